"""A killed upload's hidden temporary file is removed by the next successful upload of that file."""

from __future__ import annotations

from pathlib import Path

from transports import FileServerConfig, FileUpload, open_files
from transports.paths import stale_temps


def test_stale_temps_matches_only_earlier_uploads_of_the_same_file() -> None:
    entries = [".C1.xml.0123456789ab.part", ".C1.xml.ffffffffffff.part", ".C2.xml.0123456789ab.part",
               "C1.xml", ".C1.xml.notahexname.part", "/customers/.C1.xml.aaaaaaaaaaaa.part"]
    got = stale_temps(entries, "/customers/C1.xml", "/customers/.C1.xml.ffffffffffff.part")
    assert got == ["/customers/.C1.xml.0123456789ab.part", "/customers/.C1.xml.aaaaaaaaaaaa.part"]


def test_a_later_upload_sweeps_the_temp_file_a_killed_process_left(tmp_path: Path) -> None:
    folder = tmp_path / "customers"
    folder.mkdir()
    left_behind = folder / ".C00123.xml.0123456789ab.part"
    left_behind.write_bytes(b"<half")
    unrelated = folder / ".C00999.xml.0123456789ab.part"
    unrelated.write_bytes(b"<other")
    transport = open_files(FileServerConfig(url=f"file://{tmp_path}", folder="/customers"))
    transport.send(FileUpload("C00123.xml", b"<whole/>"))
    assert (folder / "C00123.xml").read_bytes() == b"<whole/>"
    assert not left_behind.exists()
    assert unrelated.exists(), "only temporary files of the same target are swept"
