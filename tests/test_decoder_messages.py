"""What libmpg123 prints while it decodes a damaged but readable MP3 stays off the terminal.

The MP3s here are real: synthesized music encoded by libsndfile's MP3 encoder (LAME), then damaged the way
real files are (a few frames whose side info claims more bits than the frame holds, one frame whose sync
word is gone). libmpg123 complains on fd 2 and still decodes the whole file.
"""

from __future__ import annotations

import ast
import csv
import io
import re
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import soundfile as sf

from soundsort.audio.native_stderr import MAX_WARNINGS, DecoderMessages, decoder_message
from soundsort.examples import synth_music
from soundsort.inference import schema
from tests.conftest import run_cli

pytestmark = pytest.mark.skipif("MP3" not in sf.available_formats(), reason="libsndfile without MP3 support")

SR = 22050
_BITRATES = {1: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
             2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]}
_RATES = {3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000]}


def _frames(data: bytes) -> list[tuple[int, int, bool, bool]]:
    """Layer III frames of a plain MP3: (offset, MPEG version id, has CRC, mono)."""
    out, pos = [], 0
    while pos + 4 <= len(data):
        head = int.from_bytes(data[pos:pos + 4], "big")
        if head >> 21 != 0x7FF:
            break
        version, bitrate_i, rate_i = (head >> 19) & 3, (head >> 12) & 15, (head >> 10) & 3
        bitrate = _BITRATES[1 if version == 3 else 2][bitrate_i] * 1000
        size = (144 if version == 3 else 72) * bitrate // _RATES[version][rate_i] + ((head >> 9) & 1)
        out.append((pos, version, not (head >> 16) & 1, (head >> 6) & 3 == 3))
        pos += size
    return out


def _set_bits(buf: bytearray, bit: int, nbits: int, value: int) -> None:
    for k in range(nbits):
        byte, shift = divmod(bit + k, 8)
        shift = 7 - shift
        buf[byte] = (buf[byte] & ~(1 << shift)) | (((value >> (nbits - 1 - k)) & 1) << shift)


def damaged_mp3(path: Path, seconds: float = 8.0, seed: int = 3) -> Path:
    """Encode music to MP3, then overstate part2_3_length in three frames and erase one frame's sync word."""
    sf.write(path, synth_music(seconds, SR, seed=seed), SR, format="MP3", subtype="MPEG_LAYER_III")
    data = bytearray(path.read_bytes())
    frames = _frames(bytes(data))
    assert len(frames) > 100, "the encoder wrote something unexpected"
    n = len(frames)
    for i in (int(n * 0.4), int(n * 0.5), int(n * 0.6)):
        pos, version, crc, mono = frames[i]
        side = (pos + 4 + (2 if crc else 0)) * 8
        if version == 3:  # MPEG-1: main_data_begin 9, private bits, scfsi 4 per channel
            skip = 9 + (5 if mono else 3) + 4 * (1 if mono else 2)
        else:  # MPEG-2 / 2.5: main_data_begin 8, private bits
            skip = 8 + (1 if mono else 2)
        _set_bits(data, side + skip, 12, 4095)  # the first granule's part2_3_length: far too many bits
    pos = frames[int(n * 0.75)][0]
    data[pos:pos + 4] = b"\x00\x00\x00\x00"  # a lost sync word: the decoder resyncs
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="module")
def bad_mp3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return damaged_mp3(tmp_path_factory.mktemp("mp3") / "damaged.mp3")


def _mpg123_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "mpg123" in line or line.startswith(("Note:", "Warning:"))]


def test_the_file_makes_libmpg123_talk_and_still_decodes(bad_mp3: Path) -> None:
    """Without soundsort's capture, plain soundfile prints the decoder's lines: the test file is a real case."""
    code = "import sys, soundfile as sf; y, sr = sf.read(sys.argv[1]); print(len(y), sr)"
    res = subprocess.run([sys.executable, "-c", code, str(bad_mp3)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    frames, sr = map(int, res.stdout.split())
    assert sr == SR and abs(frames / sr - 8.0) < 0.05
    lines = _mpg123_lines(res.stderr)
    assert any("part2_3_length" in line for line in lines), res.stderr
    assert any(line.startswith("Note:") for line in lines), res.stderr
    assert all(decoder_message(line) is not None for line in lines)


def test_classify_keeps_the_chatter_in_the_record(bad_mp3: Path, tmp_path: Path) -> None:
    res = run_cli("classify", str(bad_mp3), "--no-genre", "-f", "json")
    assert res.returncode == 0, res.stderr
    assert _mpg123_lines(res.stderr) == [] and "part2_3_length" not in res.stderr
    (rec,) = json.loads(res.stdout)
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(rec, schema.RECORD_SCHEMA)
    assert rec["status"] == "ok" and abs(rec["duration"] - 8.0) < 0.05 and rec["label"] == "music"
    warnings = rec["warnings"]
    assert 2 <= len(warnings) <= MAX_WARNINGS
    p23 = [w for w in warnings if "part2_3_length" in w]
    assert len(p23) == 1 and p23[0].startswith("mpg123 error: ") and "times)" in p23[0]  # the 3 frames, once
    assert any(w.startswith("Note:") and "resync" in w.lower() for w in warnings)
    assert not any(w.startswith("[") for w in warnings)  # the source-file prefix is gone

    # --verbose: the same warnings on stderr, one line each, naming the file; stdout unchanged
    loud = run_cli("classify", str(bad_mp3), "--no-genre", "-f", "json", "--verbose")
    assert loud.returncode == 0, loud.stderr
    shown = [line for line in loud.stderr.splitlines() if ": warning: " in line]
    assert shown == [f"soundsort: {bad_mp3}: warning: {w}" for w in warnings]
    assert json.loads(loud.stdout)[0]["warnings"] == warnings

    # csv has the column; two worker processes give the same warnings, and a bad file is still one line
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"ID3" + b"\x00" * 50)
    both = run_cli("classify", str(bad_mp3), str(broken), "--no-genre", "-f", "csv", "-j", "2")
    assert both.returncode == 1
    assert _mpg123_lines(both.stderr) == []
    assert [line for line in both.stderr.splitlines() if "broken.mp3" in line] == [
        line for line in both.stderr.splitlines() if line.startswith("soundsort:")]
    assert sum("broken.mp3" in line for line in both.stderr.splitlines()) == 1
    rows = {Path(r["path"]).name: r for r in csv.DictReader(io.StringIO(both.stdout))}
    assert rows["damaged.mp3"]["warnings"] == " | ".join(warnings)
    assert rows["broken.mp3"]["status"] == "error" and rows["broken.mp3"]["warnings"] == ""


def _times(summary: list[str], k: int) -> list[str]:
    """``summary`` as it reads after the same decode ran ``k`` times."""
    out = []
    for w in summary:
        m = re.fullmatch(r"(.*) \((\d+) times\)", w)
        text, n = (m.group(1), int(m.group(2))) if m else (w, 1)
        out.append(f"{text} ({n * k} times)")
    return out


def test_threads_keep_their_own_messages_and_other_output_is_not_lost(bad_mp3: Path) -> None:
    """Four threads decode with collectors and two without while a fifth prints and a sixth forks: every
    collector gets exactly its own file's messages, every unrelated line still reaches stderr whole, no
    decoder line does, and a child forked mid-capture starts with the real stderr."""
    script = textwrap.dedent("""
        import os, sys, threading
        from soundsort.audio.decode import load
        from soundsort.audio.native_stderr import DecoderMessages

        path = sys.argv[1]
        real = os.fstat(2)
        alone = DecoderMessages()
        load(path, messages=alone)
        collectors = [DecoderMessages() for _ in range(4)]
        stop = threading.Event()

        def chatter():
            i = 0
            while not stop.is_set() or i < 200:
                if i % 2:
                    os.write(2, b"native line %d\\n" % i)
                else:
                    sys.stderr.write(f"python line {i}\\n")  # one write (print() makes two)
                i += 1

        def forker():
            for k in range(20):
                pid = os.fork()
                if pid == 0:
                    now = os.fstat(2)
                    same = (now.st_dev, now.st_ino) == (real.st_dev, real.st_ino)
                    os.write(2, b"child %d %s\\n" % (k, b"real" if same else b"redirected"))
                    os._exit(0)
                os.waitpid(pid, 0)

        def decode(c):
            for _ in range(3):
                load(path, messages=c)

        threads = [threading.Thread(target=decode, args=(c,)) for c in collectors]
        threads += [threading.Thread(target=load, args=(path,)) for _ in range(2)]  # shared captures
        talker, fork_thread = threading.Thread(target=chatter), threading.Thread(target=forker)
        talker.start()
        fork_thread.start()
        for t in threads:
            t.start()
        for t in threads + [fork_thread]:
            t.join()
        stop.set()
        talker.join()
        print(repr(alone.summary()))
        print(repr([c.summary() for c in collectors]))
        print(len(alone), repr([len(c) for c in collectors]))
    """)
    res = subprocess.run([sys.executable, "-c", script, str(bad_mp3)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    alone, per_thread, counts = res.stdout.strip().splitlines()
    alone_summary = ast.literal_eval(alone)
    assert any("part2_3_length" in w for w in alone_summary)
    n_alone, n_threads = counts.split(" ", 1)
    assert ast.literal_eval(n_threads) == [3 * int(n_alone)] * 4  # three decodes each: nothing lost or stolen
    assert ast.literal_eval(per_thread) == [_times(alone_summary, 3)] * 4
    assert _mpg123_lines(res.stderr) == []
    lines = res.stderr.splitlines()
    children = sorted(line for line in lines if line.startswith("child "))
    assert children == sorted(f"child {k} real" for k in range(20))
    chatter = [line for line in lines if not line.startswith("child ")]
    numbers = sorted(int(line.rsplit(" ", 1)[1]) for line in chatter if line.startswith(("native line", "python line")))
    assert numbers == list(range(len(numbers))) and len(numbers) >= 200
    assert len(chatter) == len(numbers)  # nothing else, and no line torn apart


def test_messages_are_deduplicated_and_bounded() -> None:
    assert MAX_WARNINGS == schema.MAX_WARNINGS
    assert schema.RECORD_SCHEMA["properties"]["warnings"]["maxItems"] == MAX_WARNINGS
    said = DecoderMessages()
    for i in range(1000):
        said.add(f"mpg123 error: part2_3_length ({i}) too large for available bit count ({i + 7})")
    for kind in range(20):
        said.add(f"Note: kind {'x' * kind} at offset {kind}")
    summary = said.summary()
    assert len(summary) == MAX_WARNINGS and len(said) == 1020
    assert summary[0] == "mpg123 error: part2_3_length (0) too large for available bit count (7) (1000 times)"
    assert summary[-1] == f"{20 - (MAX_WARNINGS - 2)} more decoder messages"
    assert decoder_message("[src/libmpg123/layer3.c:INT123_do_layer3():1774] error: part2_3_length (768) "
                           "too large for available bit count (760)") == \
        "mpg123 error: part2_3_length (768) too large for available bit count (760)"
    assert decoder_message("Warning: Encountered more data after announced end of track") is not None
    assert decoder_message("some other program's output") is None
    assert len(decoder_message("Note: " + "y" * 500)) <= 160
