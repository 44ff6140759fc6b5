import pytest

from backend.metrics.text import exact_match, normalise_answer, quote_faithfulness, rouge_l, token_f1


def test_normalise_and_exact_match():
    assert normalise_answer("The  Lighthouse, keeper!") == "lighthouse keeper"
    assert exact_match("the lighthouse keeper.", ["Lighthouse keeper"]) == 1.0
    assert exact_match("keeper", ["Lighthouse keeper"]) == 0.0


def test_token_f1_best_reference():
    assert token_f1("mara the keeper", ["Mara", "Mara the lighthouse keeper"]) == pytest.approx(0.8)
    assert token_f1("", ["x"]) == 0.0 and token_f1("", [""]) == 1.0


def test_rouge_l_against_a_known_value():
    # LCS("the cat sat on the mat", "the cat is on the mat") = 5 -> P = R = 5/6
    assert rouge_l("the cat sat on the mat", ["the cat is on the mat"]) == pytest.approx(5 / 6)
    assert rouge_l("nothing shared", ["totally different"]) == 0.0


def test_quote_faithfulness():
    docs = ["Mara climbed the  glass stairs at dawn.", "The harbour was quiet."]
    assert quote_faithfulness(["climbed the glass stairs", "the harbour was loud"], docs) == 0.5
    assert quote_faithfulness([], docs) is None
