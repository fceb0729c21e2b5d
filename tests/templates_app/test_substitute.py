import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from templates_app.definition import SubstitutionError, references, render

CONTEXT = {
    "vars": {
        "days": 7, "region": "eu", "ratio": 0.5, "dry_run": False, "note": None,
        "regions": ["eu", "us"], "filters": {"status": "open"}, "tricky": "{{ vars.region }}",
    },
    "params": {"width": 640},
    "steps": {"transform": {"outputs": {"rows": 42, "files": ["a.csv", "b.csv"]}}},
    "job": {"id": "0193c7e2", "name": "Nightly export"},
    "workspace": {"slug": "acme"},
}  # fmt: skip


@pytest.mark.parametrize(("template", "expected"), [
    ("{{ vars.days }}", 7),
    ("{{ vars.ratio }}", 0.5),
    ("{{ vars.dry_run }}", False),
    ("{{ vars.note }}", None),
    ("{{ vars.regions }}", ["eu", "us"]),
    ("{{ vars.filters }}", {"status": "open"}),
    ("{{vars.days}}", 7),
    ("{{   steps.transform.outputs.rows   }}", 42),
])  # fmt: skip
def test_a_string_that_is_one_reference_keeps_the_values_type(template, expected):
    value = render(template, CONTEXT)

    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(("template", "expected"), [
    ("days={{ vars.days }}&region={{vars.region}}", "days=7&region=eu"),
    ("dry run: {{ vars.dry_run }}", "dry run: false"),
    ("note: [{{ vars.note }}]", "note: []"),
    ("regions: {{ vars.regions }}", 'regions: ["eu", "us"]'),
    ("filters: {{ vars.filters }}", 'filters: {"status": "open"}'),
    ("{{ job.name }} in {{ workspace.slug }} ({{ job.id }})", "Nightly export in acme (0193c7e2)"),
    ("second file: {{ steps.transform.outputs.files.1 }}", "second file: b.csv"),
    (" {{ vars.days }}", " 7"),
    ("{{ vars.days }}\n", "7\n"),
    ("no references at all", "no references at all"),
])  # fmt: skip
def test_references_inside_longer_text_are_spliced_in_as_text(template, expected):
    assert render(template, CONTEXT) == expected


def test_dicts_and_lists_are_rendered_all_the_way_down_but_keys_are_not():
    value = {
        "url": "https://example.invalid/orders?days={{ vars.days }}",
        "json": {"ids": "{{ vars.regions }}", "{{ vars.region }}": [1, "{{ params.width }}", True]},
    }

    assert render(value, CONTEXT) == {
        "url": "https://example.invalid/orders?days=7",
        "json": {"ids": ["eu", "us"], "{{ vars.region }}": [1, 640, True]},
    }


def test_a_substituted_value_is_never_scanned_again():
    assert render("{{ vars.tricky }}", CONTEXT) == "{{ vars.region }}"
    assert render("x {{ vars.tricky }} y", CONTEXT) == "x {{ vars.region }} y"


def test_top_level_keys_named_in_skip_keys_are_left_untouched():
    with_ = {"script": 'echo "{{ vars.region }}"', "env": {"REGION": "{{ vars.region }}"}}

    assert render(with_, CONTEXT, skip_keys=frozenset({"script"})) == {
        "script": 'echo "{{ vars.region }}"',
        "env": {"REGION": "eu"},
    }


@pytest.mark.parametrize("path", [
    "vars.weeks", "steps.fetch.outputs.status", "steps.transform.outputs.files.2",
    "steps.transform.outputs.files.first", "vars.days.value", "workspace.name",
])  # fmt: skip
def test_a_missing_path_raises_with_the_path(path):
    with pytest.raises(SubstitutionError) as caught:
        render(f"value: {{{{ {path} }}}}", CONTEXT)

    assert caught.value.path == path
    assert path in str(caught.value)


@pytest.mark.parametrize("template", [
    "{{ __import__('os') }}",
    "{{ __import__('os').system('touch /tmp/pwned') }}",
    "{{ vars.region | upper }}",
    "{{ vars.days + 1 }}",
    "{{ vars['region'] }}",
    "{{ }}",
])  # fmt: skip
def test_anything_but_a_dotted_name_is_refused_and_never_run(template):
    with pytest.raises(SubstitutionError, match="only dotted names are allowed"):
        render(template, CONTEXT)


def test_attributes_of_values_are_never_looked_up():
    context = {"vars": {"region": "eu"}, "job": object()}

    for path in ("vars.region.upper", "vars.region.__class__", "job.__class__", "job.__dict__"):
        with pytest.raises(SubstitutionError):
            render("{{ " + path + " }}", context)


def test_a_whole_value_is_a_copy_so_changing_it_leaves_the_context_alone():
    context = {"vars": {"regions": ["eu"]}}

    render("{{ vars.regions }}", context).append("us")

    assert context["vars"]["regions"] == ["eu"]


def test_an_unclosed_brace_pair_is_left_as_it_is():
    assert render("{{ vars.days", CONTEXT) == "{{ vars.days"


def test_references_lists_each_path_once_in_order_of_first_use():
    value = {
        "url": "{{ vars.region }}/{{ steps.transform.outputs.rows }}",
        "headers": ["{{ vars.region }}", "{{ job.id }}", "{{ 1 + 1 }}"],
    }

    assert references(value) == ["vars.region", "steps.transform.outputs.rows", "job.id"]


# --- properties -------------------------------------------------------------------------------

# Any str that UTF-8 can encode: every code point but the surrogates. What st.text() draws
# by default, without the table of a codec that hypothesis builds over all 1.1 million code
# points (seconds, in each test process of a fresh checkout).
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]))


@given(ANY_TEXT)
def test_any_text_value_is_spliced_in_verbatim_and_never_rescanned(text):
    context = {"vars": {"a": text, "b": "B"}}

    assert render("<{{ vars.a }}|{{ vars.b }}>", context) == f"<{text}|B>"
    assert render("{{ vars.a }}", context) == text


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda children: st.lists(children) | st.dictionaries(ANY_TEXT, children),
)


# Drawing nested values is most of the cost: 30 by default, 500 in the slow suite (CI).
@settings(max_examples=30)
@given(ANY_JSON)
def test_a_whole_value_reference_returns_any_json_value_unchanged(value):
    assert render("{{ vars.x }}", {"vars": {"x": value}}) == value


@pytest.mark.slow
@settings(max_examples=500)
@given(ANY_JSON)
def test_a_whole_value_reference_returns_any_of_500_json_values_unchanged(value):
    assert render("{{ vars.x }}", {"vars": {"x": value}}) == value


@given(st.text(alphabet="{} ._()'\"vars.xyz|+0123456789", max_size=40))
def test_rendering_any_text_either_succeeds_or_raises_a_substitution_error(template):
    context = {"vars": {"x": 1, "y": "{{ vars.x }}"}}

    try:
        result = render(template, context)
    except SubstitutionError:
        return
    assert isinstance(result, str | int)
