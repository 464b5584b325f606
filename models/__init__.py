"""The model: build, train, save/load the model directory, predict, evaluate."""
