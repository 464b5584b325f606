"""A zip member read in place: the same bytes as zipfile's own reading, through any seek, for stored members;
compressed ones are read whole."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from mlc.models.zip_member import StoredMember, open_member


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_member_reads_as_zipfile_does(tmp_path, compression):
    rng = np.random.default_rng(0)
    payload = rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes()
    path = tmp_path / "odd name ü.keras"
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        archive.writestr("first.json", b'{"a": 1}')
        archive.writestr(zipfile.ZipInfo("weights.h5"), payload, compress_type=compression)
        archive.writestr("last.txt", b"tail")
    with zipfile.ZipFile(path) as archive, open_member(archive, "weights.h5") as member:
        assert isinstance(member, StoredMember) == (compression == zipfile.ZIP_STORED)
        assert member.read() == payload
        for offset in rng.integers(0, len(payload), 50):
            member.seek(int(offset))
            assert member.read(1000) == payload[offset : offset + 1000]
        member.seek(-10, io.SEEK_END)
        assert member.read() == payload[-10:]
        assert member.read(5) == b""
        member.seek(len(payload) + 100)
        assert member.read(5) == b""  # past the end: nothing, not the next member's bytes


def test_h5py_reads_a_stored_member_in_place(tmp_path):
    import h5py

    kernel = np.arange(12, dtype=np.float32).reshape(3, 4)
    h5_path = tmp_path / "w.h5"
    with h5py.File(h5_path, "w") as h5:
        h5.create_dataset("layers/dense/vars/0", data=kernel)
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(h5_path, "model.weights.h5")
    with zipfile.ZipFile(path) as archive, open_member(archive, "model.weights.h5") as member:
        with h5py.File(member, "r") as h5:
            np.testing.assert_array_equal(h5["layers/dense/vars/0"][()], kernel)


def test_the_member_comes_from_the_archive_opened_not_from_its_path_now(tmp_path):
    """A model directory switched under a running consumer: the path names another archive by the time the member
    is read; the member still comes from the archive that was opened."""
    path, other = tmp_path / "model.keras", tmp_path / "next.keras"
    for target, payload in ((path, b"A" * 5000), (other, b"B" * 5000)):
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr("model.weights.h5", payload)
    with zipfile.ZipFile(path) as archive:
        other.replace(path)
        with open_member(archive, "model.weights.h5") as member:
            assert member.read() == b"A" * 5000
