"""Decoding request bodies: every supported coding, bounded output, clear refusals."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest

from app.ingest.body import BodyError, decode_body, encoding_of

PLAIN = b'{"site": "s_x", "events": []}' * 10


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", gzip.compress(PLAIN)),
        ("gzip", gzip.compress(PLAIN[:100]) + gzip.compress(PLAIN[100:])),  # two members
        ("deflate", zlib.compress(PLAIN)),
        ("deflate", _raw_deflate(PLAIN)),  # what some clients send as "deflate"
        ("br", brotli.compress(PLAIN)),
    ],
)
def test_each_coding_decodes(encoding: str, body: bytes) -> None:
    assert decode_body(body, encoding, len(PLAIN)) == PLAIN


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("br", brotli.compress)],
)
def test_the_limit_holds_for_the_decoded_size(encoding: str, compress: object) -> None:
    bomb = compress(b"\x20" * 5_000_000)  # type: ignore[operator]
    with pytest.raises(BodyError) as caught:
        decode_body(bomb, encoding, 1024)
    assert caught.value.status == 413 and "decoded" in caught.value.message
    assert decode_body(compress(PLAIN), encoding, len(PLAIN)) == PLAIN  # type: ignore[operator]


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", PLAIN),
        ("gzip", gzip.compress(PLAIN)[:-12]),  # cut short
        ("deflate", b"\x78\x9c" + b"garbage"),
        ("br", b"not brotli at all"),
        ("br", brotli.compress(PLAIN)[:-3]),
    ],
)
def test_a_broken_body_is_400_naming_its_coding(encoding: str, body: bytes) -> None:
    with pytest.raises(BodyError) as caught:
        decode_body(body, encoding, 10_000)
    assert caught.value.status == 400 and encoding in caught.value.message


def test_encoding_names() -> None:
    assert encoding_of(b"") is None and encoding_of(b"identity") is None
    assert encoding_of(b" GZIP ") == "gzip" and encoding_of(b"x-gzip") == "gzip"
    for unsupported in (b"zstd", b"gzip, br", b"compress"):
        with pytest.raises(BodyError) as caught:
            encoding_of(unsupported)
        assert caught.value.status == 415
        assert unsupported.decode().strip() in caught.value.message
