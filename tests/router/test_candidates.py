from router.candidates import parse_model


def test_parse_model_variants():
    assert parse_model("meta-llama/llama-3.1-8b-instruct:nitro").sort == "throughput"
    assert parse_model("a/b:floor").sort == "price"
    assert parse_model("a/b:free").variant == "free" and parse_model("a/b:free").model_id == "a/b"
    assert parse_model("a/b:unknown").model_id == "a/b:unknown"  # not a variant: part of the id
