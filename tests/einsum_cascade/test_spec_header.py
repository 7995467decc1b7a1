"""Every spec file's header (issue 17): a `version` this release does not read, or a `name` that is not text,
is one error naming the file and the key, never accepted silently."""

from __future__ import annotations

import pytest

from einsum_cascade.errors import SpecError
from einsum_cascade.library import LIBRARY_DIR
from einsum_cascade.parse import parse_cascade
from einsum_cascade.yaml_source import read_text
from mappers.gpu_kernels import GPU_PRESET_DIR, parse_gpu_mapping

CASCADE = read_text(LIBRARY_DIR / "softmax-3pass.yaml")
GPU_MAPPING = read_text(GPU_PRESET_DIR / "fa2.yaml")


def replaced(text: str, key: str, value: str) -> str:
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
    lines[at] = f"{key}: {value}"
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("parse, text", [(parse_cascade, CASCADE), (parse_gpu_mapping, GPU_MAPPING)])
@pytest.mark.parametrize("key, value, words", [("version", "99", "version = 99 is not a supported version"),
                                               ("version", "'1'", "version = '1' is not a supported version"),
                                               ("version", "true", "version = True is not a supported version"),
                                               ("name", "[1, 2]", "name = [1, 2] must be non-empty text"),
                                               ("name", "''", "name = '' must be non-empty text")])
def test_a_bad_header_is_refused(parse, text, key, value, words):
    with pytest.raises(SpecError) as error:
        parse(replaced(text, key, value), "spec.yaml")
    assert words in str(error.value)
    assert "spec.yaml" in str(error.value)


@pytest.mark.parametrize("parse, text", [(parse_cascade, CASCADE), (parse_gpu_mapping, GPU_MAPPING)])
def test_the_shipped_header_reads(parse, text):
    assert parse(replaced(text, "version", "1"), "spec.yaml").name
