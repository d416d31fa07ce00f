import pytest

from shared.errors import ValidationError
from shared.validation import get_bool, get_choice, get_int, get_str, get_str_list, run_identity


def test_each_check_names_its_field():
    cases = [
        (lambda: get_str({}, "run_id", required=True), "run_id"),
        (lambda: get_str({"run_id": 5}, "run_id"), "run_id"),
        (lambda: get_int({"chunk_size": "10"}, "chunk_size"), "chunk_size"),
        (lambda: get_int({"chunk_size": True}, "chunk_size"), "chunk_size"),
        (lambda: get_int({"chunk_size": 0}, "chunk_size", minimum=1), "chunk_size"),
        (lambda: get_bool({"force": "yes"}, "force"), "force"),
        (lambda: get_choice({"write_method": "copy"}, "write_method", ("load", "streaming")), "write_method"),
        (lambda: get_str_list({"files": "gs://a"}, "files"), "files"),
        (lambda: run_identity({"run_id": "bad id!"}, required=True), "run_id"),
    ]
    for call, field in cases:
        with pytest.raises(ValidationError) as info:
            call()
        assert info.value.details["field"] == field


def test_defaults_and_values():
    assert get_int({}, "chunk_size", default=500) == 500
    assert get_int({"chunk_size": 20.0}, "chunk_size") == 20
    assert get_choice({}, "write_method", ("load", "streaming"), default="load") == "load"
    assert run_identity({"run_id": "2026-11-23"}, required=True) == ("2026-11-23", "pass1")
    assert run_identity({}, required=False) == (None, None)
