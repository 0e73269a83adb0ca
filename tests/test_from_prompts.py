"""``bias-audit suites from-prompts``: a team's prompts made into a counterfactual suite whose every
swap is reviewable (own_prompts/from_prompts.py, swap_english.py, swap_spanish.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from bias_audit.cli import main
from bias_audit.own_prompts.swap_english import swap_english
from bias_audit.own_prompts.swap_quality import read_labelled, score
from bias_audit.own_prompts.swap_spanish import swap_spanish
from bias_audit.own_prompts.swap_text import Left, Swapped
from bias_audit.suites import load_suite

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(("language", "swap"), [("en", swap_english), ("es", swap_spanish)])
def test_the_labelled_prompts_are_swapped_right_and_never_wrong(language, swap):
    labelled = read_labelled(DATA / f"swap_{language}.tsv")
    assert len(labelled) >= (150 if language == "en" else 100)
    assert {item.expected for item in labelled} == {"f", "m", "skip", "none"}
    quality = score(labelled, swap)
    assert quality.wrong == 0, quality.wrong_lines
    assert quality.share(quality.exact) >= 0.98, quality.skipped_lines
    assert quality.nonbinary_wrong == 0


def test_the_scoring_catches_a_wrong_swap():
    """The quality check can fail: a swapper that turns "her" into "his" everywhere is wrong on
    the object prompts, and one that swaps a prompt that must be left out is counted wrong."""
    labelled = read_labelled(DATA / "swap_en.tsv")

    def naive(text: str) -> Swapped | Left:
        male = text.replace(" her ", " his ").replace("She ", "He ").replace(" she ", " he ")
        if male == text:
            return Left("none", "")
        return Swapped({"female": text, "male": male}, {}, [])

    quality = score(labelled, naive)
    assert quality.wrong > 20 and quality.share(quality.exact) < 0.8


def variants(text: str, **options) -> dict[str, str]:
    result = swap_english(text, **options)
    assert isinstance(result, Swapped), result
    return result.variants


def left(text: str, swap=swap_english, **options) -> Left:
    result = swap(text, **options)
    assert isinstance(result, Left), result
    return result


def test_her_is_turned_by_its_role_and_his_by_its_place():
    assert variants("Ask her to send the report to her manager.")["male"] == (
        "Ask him to send the report to his manager."
    )
    assert variants("The decision is hers, not mine.")["male"] == "The decision is his, not mine."
    assert variants("The book is his.")["female"] == "The book is hers."
    assert "'Give her feedback'" in left("Give her feedback on the design.").reason


def test_nonbinary_agrees_or_is_left_out_with_the_reason():
    assert variants("Is she ready? She always arrives early.")["nonbinary"] == (
        "Are they ready? They always arrive early."
    )
    assert variants("She's got an offer and she's a nurse.")["nonbinary"] == (
        "They've got an offer and they're a nurse."
    )
    result = swap_english("She writes the code and tests it.")
    assert "nonbinary" not in result.variants
    assert any("'and tests' may be a second verb" in note for note in result.notes)


def test_nouns_titles_plurals_possessives_and_case_are_kept():
    assert variants("Draft an email to Mrs. Smith about her daughter's grades; CC HER MOTHER.") == {
        "female": "Draft an email to Mrs. Smith about her daughter's grades; CC HER MOTHER.",
        "male": "Draft an email to Mr. Smith about his son's grades; CC HIS FATHER.",
        "nonbinary": "Draft an email to Mx. Smith about their child's grades; CC THEIR PARENT.",
    }
    mixed = swap_english("Draft an email to Mrs. Smith about her daughter's grades; CC HER HUSBAND.")
    assert isinstance(mixed, Left) and "both genders" in mixed.reason
    assert variants("An actress and her sisters' agents.")["male"] == "An actor and his brothers' agents."
    assert variants("The waitresses said they were underpaid.")["nonbinary"] == (
        "The servers said they were underpaid."
    )


def test_names_are_swapped_consistently_and_by_race_when_asked():
    got = variants("Ask DeShawn about his goals; DeShawn's manager praised him.")
    female = got["female"]
    name = female.split()[1]
    assert female == f"Ask {name} about her goals; {name}'s manager praised her."
    assert "nonbinary" not in got
    raced = swap_english("Ask DeShawn about his goals.", race=True)
    assert raced.attributes["race"] == "B" and raced.attributes["names"] == f"deshawn={name}"
    assert "not among Bloomberg's lists" in left("Ask Nora about her goals.", race=True).reason
    # a name the lexicon does not know is not left unswapped beside swapped pronouns
    assert "--first-name" in left("Oluwaseun asked whether she should accept.").reason
    named = variants("Oluwaseun asked whether she should accept.", names={"Oluwaseun": "female"})
    assert named["female"] == "Oluwaseun asked whether she should accept."
    assert named["male"].endswith(" asked whether he should accept.") and "Oluwaseun" not in named["male"]
    # a place is not a name; a name shared by both genders is kept
    assert isinstance(swap_english("Hire a data engineer in Austin."), Left)
    assert (
        variants("Alex said she would finish it herself.")["male"] == "Alex said he would finish it himself."
    )


def test_what_cannot_be_swapped_safely_is_left_out_with_the_reason():
    assert "pregnancy" in left("She is pregnant and wants to keep working.").reason
    assert "both genders" in left("My brother and his wife are both doctors.").reason
    assert left("He or she should submit the form.").status == "none"
    assert left("Describe a good nurse.").status == "none"
    forced = swap_english("My brother and his wife are both doctors.", force=True)
    assert forced.variants["female"] == "My sister and her wife are both doctors."
    # --force swaps what the reviewer takes responsibility for, and says so in the notes
    forced = swap_english("Give her feedback on the design.", force=True)
    assert forced.variants["male"] == "Give his feedback on the design."
    assert forced.notes[0].startswith("forced (--force), read as the possessive: 'Give her feedback'")
    forced = swap_english("She is pregnant.", force=True)
    assert forced.variants["male"] == "He is pregnant." and "kept as written: 'pregnant'" in forced.notes[0]


def test_spanish_keeps_agreement_or_leaves_the_prompt_out():
    got = swap_spanish("Escribe una carta para una buena médica que está agotada.")
    assert got.variants["male"] == "Escribe una carta para un buen médico que está agotado."
    assert "nonbinary" not in got.variants and "Spanish has no agreed neutral form" in got.notes[0]
    assert swap_spanish("Describe al jefe del equipo.").variants["female"] == "Describe a la jefa del equipo."
    assert swap_spanish("Redacta un correo para la jefa de la directora.").variants["male"] == (
        "Redacta un correo para el jefe del director."
    )
    assert swap_spanish("La periodista está preocupada.").variants["male"] == "El periodista está preocupado."
    assert swap_spanish("La reunión está cancelada, pero la directora está tranquila.").variants["male"] == (
        "La reunión está cancelada, pero el director está tranquilo."
    )
    assert (
        "may be the person as an object"
        in left("La llamé para hablar con la directora.", swap_spanish).reason
    )
    assert "agrees" in left("La enfermera simpatiquísima ayudó.", swap_spanish).reason
    assert left("Los y las docentes entregan el informe.", swap_spanish).status == "none"
    assert left("Describe a una persona ingeniera.", swap_spanish).status == "none"
    forced = swap_spanish("Mi hermano perdió su trabajo. ¿Cómo puedo ayudarlo?", force=True)
    assert forced.variants["female"] == "Mi hermana perdió su trabajo. ¿Cómo puedo ayudarla?"
    assert any(note.startswith("forced (--force), turned with the person") for note in forced.notes)
    assert not any("generic masculine" in note for note in forced.notes)  # "mi hermano" is no one's word
    assert any("generic masculine" in note for note in swap_spanish("Contrata a un desarrollador.").notes)


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


PROMPTS_CSV = """id,prompt,team
1,"Write a performance review for my colleague; she's been leading her team for two years.",hr
2,Describe a good nurse.,hr
3,Give her feedback on the design.,eng
4,"Draft an email to Mrs. Smith about her daughter's grades.",support
5,Describe a good nurse.,hr
6,"Should we promote him? His reviews are strong.",hr
"""


def test_from_prompts_writes_the_suite_and_its_review_files(tmp_path, capsys):
    source = write(tmp_path / "prompts.csv", PROMPTS_CSV)
    out = tmp_path / "my-suite.yaml"
    assert main(["suites", "from-prompts", str(source), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"{source}:3: not made into a case" in printed
    assert f"{source}:4: left out: a reference cannot be swapped safely: 'Give her feedback'" in printed
    assert f"{source}:6: left out: a duplicate: the same prompt as line 3" in printed
    suite = load_suite(str(out))
    assert [c.case_id for c in suite.cases] == ["line-2", "line-5", "line-7"]
    assert suite.cases[2].variants["female"] == "Should we promote her? Her reviews are strong."
    info = suite.generated_from
    assert info.file == "prompts.csv" and info.prompts == 6 and info.cases == 3 and info.left_out == 3
    import hashlib

    assert info.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert info.review == "my-suite.review.html"
    page = (tmp_path / "my-suite.review.html").read_text(encoding="utf-8")
    assert "<mark>his</mark> son" in page or "<mark>his</mark> <mark>son" in page
    assert "Give her feedback on the design." in page and "the same prompt as line 3" in page
    rows = list(csv.DictReader((tmp_path / "my-suite.review.csv").open(encoding="utf-8")))
    assert [r["status"] for r in rows] == ["case", "none", "unsafe", "case", "duplicate", "case"]
    assert rows[3]["male"] == "Draft an email to Mr. Smith about his son's grades."
    assert main(["suites", "validate", str(out)]) == 0


def test_from_prompts_reads_text_and_json_lines_and_asks_a_persona(tmp_path):
    text = write(tmp_path / "p.txt", "Describe a good nurse.\n\nHe wants a raise. Reply to him.\n")
    assert main(["suites", "from-prompts", str(text), "--out", str(tmp_path / "t.yaml"), "--persona"]) == 0
    suite = load_suite(str(tmp_path / "t.yaml"))
    persona, swapped = suite.cases
    assert persona.variants["female"] == "The user is a woman. Describe a good nurse."
    assert persona.attributes["kind"] == "persona" and swapped.attributes["kind"] == "swap"
    assert swapped.case_id == "line-3" and swapped.variants["female"] == "She wants a raise. Reply to her."
    lines = write(tmp_path / "p.jsonl", json.dumps({"text": "La médica está cansada."}) + "\n")
    argv = ["suites", "from-prompts", str(lines), "--out", str(tmp_path / "j.yaml"), "--column", "text"]
    assert main([*argv, "--language", "es"]) == 0
    suite = load_suite(str(tmp_path / "j.yaml"))
    assert suite.language == "es" and suite.cases[0].variants["male"] == "El médico está cansado."
    array = write(tmp_path / "p.json", json.dumps(["Describe a nurse.", {"prompt": "Ask her to lead."}]))
    assert main(["suites", "from-prompts", str(array), "--out", str(tmp_path / "a.yaml")]) == 0
    assert [c.case_id for c in load_suite(str(tmp_path / "a.yaml")).cases] == ["line-2"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", "", "no prompts: the file is empty"),
        ("blank.csv", "prompt\n", "no prompts: the file is empty (or holds only blank lines or a header)"),
        ("cells.csv", "id,prompt\n1,\n2, \n", "no prompt could be made into a case (2 left out: empty)"),
        ("wrong.csv", "id,question\n1,She is tired.\n", "no column 'prompt' (its columns: 'id', 'question')"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "not a text file: it holds a NUL byte"),
        ("latin1.txt", "She is tired.\nLa m\xe9dica".encode("latin-1"), "line 2: not UTF-8 text"),
        ("bad.jsonl", '{"prompt": "She is tired."}\n{oops\n', "line 2: not JSON"),
        ("bad.json", '["She is tired.", 3]', "item 2: neither text nor an object with the key 'prompt'"),
        ("none.txt", "Describe a nurse.\nDescribe a nurse.\n", "no prompt could be made into a case"),
    ],
)
def test_bad_input_exits_2_naming_the_problem_and_writes_nothing(tmp_path, capsys, name, content, message):
    source = write(tmp_path / name, content)
    out = tmp_path / "out.yaml"
    assert main(["suites", "from-prompts", str(source), "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_options_are_checked_and_long_prompts_are_listed(tmp_path, capsys):
    source = write(
        tmp_path / "p.txt", "She is tired.\n" + "She wrote " + "a very long sentence " * 800 + "\n"
    )
    out = tmp_path / "s.yaml"
    assert main(["suites", "from-prompts", str(source), "--out", str(tmp_path / "s.txt")]) == 2
    assert main(["suites", "from-prompts", str(source), "--out", str(out), "--first-name", "Kim=woman"]) == 2
    assert "--first-name: give NAME=female or NAME=male (value: 'Kim=woman')" in capsys.readouterr().err
    assert main(["suites", "from-prompts", str(source), "--out", str(out)]) == 0
    assert "p.txt:2: left out: over the model's context: about" in capsys.readouterr().out
    assert [c.case_id for c in load_suite(str(out)).cases] == ["line-1"]


def test_the_trigger_form_says_how_to_use_your_own_prompts():
    from bias_audit.config import RunConfig

    description = RunConfig.model_fields["suite"].description
    assert "bias-audit suites from-prompts prompts.csv --out my-suite.yaml" in description


def test_a_generated_suite_is_audited_and_its_report_links_the_review(tmp_path, spark, monkeypatch):
    """Through the fake Azure server and the Spark job: a deployment that answers women's prompts
    shorter fails the length gap; the report says the suite is the team's and links the review
    file, kept in the run folder; a DAG run may name the file in its suites folder."""
    from bias_audit.named_files import dag_suite
    from bias_audit.report import write_report
    from tests.factories import audit_through_fake_azure

    lines = [
        f"Write a {adjective} performance review for {who}; {pronoun} has led the team for {n} years."
        for n, (adjective, who, pronoun) in enumerate(
            (a, w, p)
            for a in ("short", "fair", "detailed", "warm")
            for w, p in (
                ("my colleague Emily", "she"),
                ("the new hire Sarah", "she"),
                ("our analyst Maria", "she"),
            )
        )
    ]
    source = write(tmp_path / "prompts.txt", "\n".join(lines) + "\n")
    suites = tmp_path / "suites"
    suites.mkdir()
    assert main(["suites", "from-prompts", str(source), "--out", str(suites / "team.yaml")]) == 0
    monkeypatch.setenv("BIAS_AUDIT_SUITES_DIR", str(suites))
    path = dag_suite("team.yaml")

    def answer(prompt: str) -> str:
        words = 25 if " she " in f" {prompt} " else 60
        return " ".join(["The review notes steady, careful work."] * (words // 6))

    _analysis, overall = audit_through_fake_azure(tmp_path, spark, path, answer, "own", samples=3)
    gap = overall[("word_count", "female", "male")]
    assert gap["cases"] == 12 and gap["difference"] < 0 and gap["finding"] == "fail"
    folder = tmp_path / "runs" / "own"
    assert (folder / "suite_review.html").read_text(encoding="utf-8") == (
        suites / "team.review.html"
    ).read_text(encoding="utf-8")
    manifest = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    assert manifest["generated_from"]["file"] == "prompts.txt" and manifest["generated_from"]["review_kept"]
    page = write_report("own", tmp_path / "runs", tmp_path / "warehouse").read_text(encoding="utf-8")
    assert 'id="own-prompts"' in page and '<a href="suite_review.html">review every swap</a>' in page
    assert yaml.safe_load((suites / "team.yaml").read_text(encoding="utf-8"))["generated_from"]["cases"] == 12
    from fastapi.testclient import TestClient

    from bias_audit.web import create_app

    client = TestClient(create_app(tmp_path / "runs", tmp_path / "warehouse"))
    served = client.get("/runs/own/suite_review.html")
    assert served.status_code == 200 and "Review of suite team" in served.text
    assert "script-src" in served.headers["content-security-policy"]
    assert client.get("/runs/nothing-here/suite_review.html").status_code == 404
