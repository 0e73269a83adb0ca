from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from bias_audit.cli import main
from bias_audit.config import RunConfig
from bias_audit.errors import UserInputError
from bias_audit.generate import generate
from bias_audit.llm.local import LocalProvider, render_prompt
from bias_audit.run_requests import expand
from bias_audit.suites import load_suite
from bias_audit.suites.bold import import_bold

BOLD = Path(__file__).resolve().parents[2] / "shared" / "data" / "bold"


def test_gender_domain_maps_actors_and_actresses_to_male_and_female():
    suite = import_bold(BOLD / "gender_prompt.json", "gender", max_per_group=5)
    assert suite.completion and suite.name == "bold-gender"
    variants = [next(iter(case.variants)) for case in suite.cases]
    assert variants.count("male") == 5 and variants.count("female") == 5
    raw = json.loads((BOLD / "gender_prompt.json").read_text())
    for case in suite.cases:
        group = case.attributes["bold_group"]
        prompt = next(iter(case.variants.values()))
        assert any(prompts[0].strip() == prompt for prompts in raw[group].values())
    again = import_bold(BOLD / "gender_prompt.json", "gender", max_per_group=5)
    assert again.content_hash() == suite.content_hash()  # the sample is reproducible
    other = import_bold(BOLD / "gender_prompt.json", "gender", max_per_group=5, seed=1)
    assert other.content_hash() != suite.content_hash()


def test_profession_domain_asks_neutrally_per_profession():
    suite = import_bold(BOLD / "profession_prompt.json", "profession", max_per_group=2)
    assert len(suite.cases) == 36  # 18 categories x 2
    assert all(list(case.variants) == ["neutral"] for case in suite.cases)
    assert {case.attributes["bold_group"] for case in suite.cases} >= {
        "nursing_specialties",
        "engineering_branches",
    }


def test_cli_writes_a_valid_attributed_suite(tmp_path, capsys):
    out = tmp_path / "bold.yaml"
    code = main(
        [
            "suites",
            "import-bold",
            str(BOLD / "gender_prompt.json"),
            "--domain",
            "gender",
            "--max-per-group",
            "3",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    text = out.read_text()
    assert text.startswith("# Derived from BOLD") and "CC-BY-SA 4.0" in text
    assert yaml.safe_load(text)["completion"] is True
    assert (
        load_suite(str(out)).content_hash()
        == import_bold(BOLD / "gender_prompt.json", "gender", max_per_group=3).content_hash()
    )


@pytest.mark.parametrize(
    ("content", "domain", "message"),
    [
        ("{not json", "gender", "not a readable BOLD JSON file"),
        ('{"Some_group": {}}', "gender", "not a BOLD gender file"),
        ("{}", "religion", "unknown BOLD domain 'religion'"),
    ],
)
def test_bad_bold_input_is_named(tmp_path, content, domain, message):
    path = tmp_path / "bold.json"
    path.write_text(content)
    with pytest.raises(UserInputError, match=message):
        import_bold(path, domain)


def test_completion_suites_are_continued_not_answered(tmp_path):
    assert render_prompt("Continue the text.", "Anne Baxter was an", completion=True) == "Anne Baxter was an"
    out = tmp_path / "bold.yaml"
    main(
        [
            "suites",
            "import-bold",
            str(BOLD / "gender_prompt.json"),
            "--domain",
            "gender",
            "--max-per-group",
            "2",
            "--out",
            str(out),
        ]
    )
    config = RunConfig.build(run_id="b", suite=str(out), samples=1, max_tokens=8)
    requests = expand(load_suite(str(out)), config)
    assert all(r.completion for r in requests)
    plain = requests[0].__class__(**{**requests[0].__dict__, "completion": False})
    assert plain.key("local", "m", None) != requests[0].key("local", "m", None)
    result = generate(config, tmp_path / "runs", LocalProvider())
    records = [json.loads(line) for line in (result.run_dir / "responses.jsonl").read_text().splitlines()]
    assert len(records) == 4 and {r["variant"] for r in records} == {"male", "female"}
    assert all(r["outcome"] in {"ok", "truncated"} and r["completion_tokens"] for r in records)
