"""One declaration of the run's parameters (RunConfig): the CLI's flags and the DAG's Params are
derived from it, so a new parameter needs one edit. And the layering: job code has no Airflow."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from typing import Literal

import pytest
from pydantic import Field

from bias_audit.config import RunConfig
from bias_audit.errors import UserInputError
from bias_audit.orchestration.params import audit_params, dag_params, run_config
from bias_audit.parameters import add_arguments, field_schemas, values_from


class WithLanguage(RunConfig):
    """A configuration with one more parameter, as a future feature would add it."""

    language: Literal["en", "de"] = Field("en", title="Language", description="Language of the prompts.")
    rounds: int | None = Field(None, gt=0, le=10, title="Rounds", description="Sampling rounds.")


def parse(model, argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser, model)
    return values_from(parser.parse_args(argv), model)


def test_a_parameter_added_to_the_model_appears_in_the_dag_form_and_the_cli():
    params = dag_params(WithLanguage)
    assert set(params) == set(field_schemas(RunConfig)) | {"language", "rounds"} | set(audit_params())
    language = params["language"]
    assert language.value == "en"
    assert language.schema["enum"] == ["en", "de"] and language.schema["title"] == "Language"
    assert params["rounds"].schema["type"] == ["null", "integer"] and params["rounds"].schema["maximum"] == 10
    assert parse(WithLanguage, ["--language", "de", "--rounds", "3"]) == {"language": "de", "rounds": 3}
    with pytest.raises(SystemExit):
        parse(WithLanguage, ["--language", "fr"])  # the choices come from the model too
    config = run_config({"language": "de", "samples": 2}, "manual__2026-11-29T10:00:00+00:00", WithLanguage)
    assert (config.language, config.samples) == ("de", 2)
    assert re.fullmatch(r"manual__2026-11-29T10_00_00_00_00-[0-9a-f]{8}", config.run_id)


def test_the_dags_params_are_the_configurations_with_titles_and_descriptions():
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["llm_bias_audit"]
    derived = dag_params()
    assert set(dag.params) == set(derived) | {"fail_on", "baseline", "fail_on_increase"}  # the gate's
    assert {"top_p", "seed"} <= set(dag.params)  # once read by the tasks but missing from the form
    for name in derived:
        param = dag.params.get_param(name)
        assert param.schema["title"] and param.description, name
    assert dag.params.get_param("samples").schema["exclusiveMinimum"] == 0
    assert dag.params.get_param("provider").schema["enum"] == ["local", "azure", "openai"]


def test_cli_values_are_only_those_given_and_objects_are_parsed(tmp_path):
    assert parse(RunConfig, []) == {}
    thresholds = tmp_path / "t.yaml"
    thresholds.write_text("warn: {word_count: 15}\n")
    given = parse(RunConfig, ["--samples", "3", "--thresholds", str(thresholds), "--top-p", "0.9"])
    assert given == {"samples": 3, "thresholds": {"warn": {"word_count": 15}}, "top_p": 0.9}
    with pytest.raises(UserInputError, match="--thresholds: must be a mapping"):
        parse(RunConfig, ["--thresholds", "[1, 2]"])


def test_a_bad_param_is_named_by_its_field():
    with pytest.raises(UserInputError, match=r"samples: Input should be greater than 0 \(value: 0\)"):
        run_config({"samples": 0}, "manual__x")


def test_job_code_does_not_import_airflow():
    code = (
        "import sys\n"
        "import bias_audit.generate, bias_audit.analyze.job, bias_audit.report, bias_audit.stages\n"
        "import bias_audit.compute.databricks_job, bias_audit.cli, bias_audit.run_folder\n"
        "loaded = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "print(loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_trigger_form_offers_the_suites_groups_settings_and_explains_choices():
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["llm_bias_audit"]
    schema = {name: dag.params.get_param(name).schema for name in dag.params}
    # a list to pick from, free text allowed
    assert schema["suite"]["examples"] == [
        "decisions-gender",
        "discrim-eval",
        "discrim-eval-all-ages",
        "esbbq-age",
        "esbbq-gender",
        "esbbq-race-ethnicity",
        "esbbq-spanish-region",
        "hiring-names",
        "hiring-names-ranking",
        "occupations-gender",
        "occupations-gender-es",
        "seed-lab",
        "seed-lab-es",
        "winobias",
    ]
    assert {name for name, s in schema.items() if s.get("section") == "Remote providers (azure, openai)"} == {
        "tpm",
        "rpm",
        "concurrency",
        "quota_share",
        "batch",
    }
    assert {name for name, s in schema.items() if s.get("section") == "Sequential sampling and budget"} == {
        "max_samples",
        "looks",
        "budget_requests",
        "budget_tokens",
    }
    assert schema["mode"]["enum"] == ["fixed", "sequential"] and dag.params["mode"] == "sequential"
    assert schema["concurrency"]["type"] == ["null", "integer"]  # not required: sized from the quota
    assert "section" not in schema["samples"] and "section" not in schema["provider"]  # the main fields
    assert set(schema["provider"]["values_display"]) == {"local", "azure", "openai"}
    assert schema["fail_on"]["values_display"]["never"].startswith("never")
    assert "20 or more samples" in dag.params.get_param("samples").description
    assert dag.description and "gender bias" in dag.description


def test_a_deployment_sets_its_scheduled_audits_defaults():
    from bias_audit.errors import UserInputError
    from bias_audit.orchestration.params import DAG_DEFAULTS, dag_params, deployment_defaults

    env = {"BIAS_AUDIT_DAG_DEFAULTS": '{"suite": "winobias", "mode": "fixed", "samples": 1}'}
    defaults = deployment_defaults(env)
    assert defaults == {**DAG_DEFAULTS, "suite": "winobias", "mode": "fixed", "samples": 1}
    params = dag_params(defaults=defaults)
    assert (params["suite"].value, params["mode"].value, params["samples"].value) == ("winobias", "fixed", 1)
    assert deployment_defaults({}) == DAG_DEFAULTS
    for value, problem in (
        ("{suite: x}", r"BIAS_AUDIT_DAG_DEFAULTS: not JSON"),
        ('["suite"]', r"BIAS_AUDIT_DAG_DEFAULTS: a JSON object"),
        ('{"sample": 3}', r"BIAS_AUDIT_DAG_DEFAULTS: unknown params \['sample'\]"),
        ('{"mode": "fixed", "samples": 0}', r"BIAS_AUDIT_DAG_DEFAULTS: .*samples"),
    ):
        with pytest.raises(UserInputError, match=problem):
            deployment_defaults({"BIAS_AUDIT_DAG_DEFAULTS": value})


def test_samples_changed_with_sampling_sequential_is_refused_not_ignored():
    """The form sends every field: samples 2 left beside Sampling sequential must not run a
    sequential audit of up to 50 per prompt (#26)."""
    from bias_audit.errors import UserInputError
    from bias_audit.orchestration.params import run_config

    form = {"mode": "sequential", "samples": 2, "suite": "seed-lab"}
    refused = r"^samples: is fixed sampling's answers per prompt \(value: 2\)"
    with pytest.raises(UserInputError, match=refused):
        run_config(form, "manual__x", conf=form)
    untouched = {**form, "samples": 5}
    assert run_config(untouched, "manual__x", conf=untouched).mode == "sequential"
    fixed = {**form, "mode": "fixed"}
    assert run_config(fixed, "manual__x", conf=fixed).samples == 2


def test_the_forms_suite_sizes_are_the_built_in_suites():
    from bias_audit.config import SUITE_SIZES
    from bias_audit.suites import load_suite
    from bias_audit.suites.loader import builtin_suite_names

    for name in builtin_suite_names():
        assert f"{name} {len(list(load_suite(name).prompts())):,}" in SUITE_SIZES, name


def test_the_provider_field_says_which_connection_each_remote_provider_reads_and_what_it_holds():
    from bias_audit.config import RunConfig

    said = RunConfig.model_fields["provider"].description
    assert "the Airflow connection azure_openai_default" in said and 'extra = {"deployment"' in said
    assert "the Airflow connection openai_default" in said and "OPENAI_BASE_URL" in said
    assert "fails before asking anything" in said


def test_the_sampling_field_says_what_each_built_in_suite_asks():
    import re

    from bias_audit.config import SUITE_REQUESTS, RunConfig
    from bias_audit.suites import builtin_suite_names, load_suite

    assert SUITE_REQUESTS in RunConfig.model_fields["mode"].description
    for name in builtin_suite_names():
        prompts = len(list(load_suite(name).prompts()))
        assert re.search(rf"\b{name} {prompts * 5:,} / {prompts * 50:,}\b", SUITE_REQUESTS), name
