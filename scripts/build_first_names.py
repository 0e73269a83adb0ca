"""Regenerate include/bias_audit/own_prompts/lexicons/first_names.yaml, the first names that
``bias-audit suites from-prompts`` recognises and swaps:

.venv/bin/python scripts/build_first_names.py ../shared/data/names-bloomberg \
    > include/bias_audit/own_prompts/lexicons/first_names.yaml

``distinctive``: the first names of Bloomberg's 2024 lists of names most distinctive of a race
and gender (voter and census data; Apache-2.0, ../shared/data/names-bloomberg), by gender and race
(W white, B Black, A Asian, H Hispanic); a first name listed for both genders is left to ``unisex``,
one that is also a common English word (Joy, Chase, Crystal) is left out: a swap of it could change a
word that is not a name. ``common``, ``unisex`` and the Spanish names are written by this project.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

RACES = ("W", "B", "A", "H")
# Bloomberg first names that are also English words or places: never swapped as names.
WORDS = {
    "Angel", "Brooks", "Chase", "Clay", "Cooper", "Crystal", "Daisy", "Deja", "Destiny", "Essence",
    "Ginger", "Grace", "Hai", "Hong", "Hung", "Joy", "Kenya", "Precious", "Carter", "Davis",
    "Drew", "Hunter", "Mason", "Dominique", "Guadalupe", "Jasmine", "Hope", "Faith", "Dawn",
    "Summer", "Autumn", "Holly", "Ivy", "Ruby", "Amber", "Pearl", "Rose", "Will", "Mark", "Bill",
    "Frank", "Art", "Sue", "Pat", "May", "June", "April", "August", "Royal", "King", "Major",
    "Price", "Miles", "Reed", "Lane", "Dale", "Glen", "Wade", "Chance", "Cash",
    # and places
    "Austin", "Dallas", "Houston", "Jackson", "Madison", "Florence", "Georgia", "Virginia",
    "Carolina", "Savannah", "Phoenix", "Lincoln", "Orlando", "Denver", "Chelsea", "Sydney", "Paris",
    "Israel", "India", "Asia", "Aurora", "Brooklyn", "Camden", "Sierra", "Cheyenne", "Dakota",
    "Memphis", "Nevada", "Regina", "Salem", "Trinity", "Tyler", "Columbia",
}  # fmt: skip
COMMON = {
    "female": """Mary Patricia Linda Barbara Susan Sarah Karen Lisa Nancy Betty Sandra Donna Carol
        Michelle Dorothy Melissa Deborah Stephanie Rebecca Sharon Laura Kimberly Nicole Olivia
        Sophia Isabella Mia Charlotte Amelia Harper Ella Chloe Zoe Lily Natalie Victoria Rachel
        Megan Lauren Samantha Katherine Maria Fatima Aisha Priya Mei Yuki Sofia Lucy Julie Anna
        Emily Emma Hannah Jennifer Jessica Ashley Amanda Elizabeth Margaret Helen Alice Claire
        Julia Diana Sophie Grace Nora Leah Ava Ellie Maya Aaliyah Layla Ruth Martha Janet Kathy
        Linda Monica Angela Tina Wendy Heather Kate Katie Jane Susie Gloria Irene Rita Joan Leila
        Amina""",
    "male": """John Robert Michael William Richard Joseph Thomas Christopher Daniel Matthew Donald
        Steven Paul Kenneth Joshua Kevin Brian George Timothy Ronald Jason Jeffrey Ryan Gary
        Nicholas Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel Gregory Patrick
        Peter Liam Noah Oliver Elijah Lucas Ethan Jacob Jack Henry Owen Luke Nathan Tom Mike Dave
        Steve Jim Joe Ahmed Mohammed Raj Wei Hiroshi Carlos Juan Omar Ali Tim Ben Max Adam Andrew
        David James Anthony Edward Charles Frederick Harold Arthur Walter Albert Carl Roger Keith
        Jeremy Aaron Jose Adrian Ian Tyler Zachary Dylan Gabriel Sean Kyle Alan Victor Martin""",
}
# Common names that belong to one culture, each with its counterpart (both ways): a swap that kept
# the gender's culture by chance would otherwise draw from the Anglo names above.
PAIRED = {
    "Priya": "Raj", "Fatima": "Omar", "Aisha": "Ahmed", "Mei": "Wei", "Yuki": "Hiroshi",
    "Sofia": "Carlos", "Maria": "Juan", "Leila": "Ali", "Amina": "Mohammed",
}  # fmt: skip
# Names given to women and men alike: a prompt keeps them and swaps only what else names the person.
UNISEX = [
    "Alex",
    "Sam",
    "Jordan",
    "Taylor",
    "Morgan",
    "Casey",
    "Jamie",
    "Riley",
    "Avery",
    "Quinn",
    "Charlie",
    "Robin",
    "Jesse",
    "Kelly",
    "Dana",
    "Chris",
    "Kim",
    "Lee",
    "Cameron",
    "Skyler",
    "Reese",
    "Bailey",
    "Amari",
    "Alexis",
    "Jean",
    "Leslie",
    "Jackie",
    "Terry",
    "Ashton",
    "Kerry",
    "Peyton",
    "Rowan",
    "Sage",
    "Emerson",
    "Finley",
    "Hayden",
    "Parker",
    "Blair",
    "Devon",
    "Jaime",
    "Kendall",
    "Shannon",
    "Tracy",
    "Addison",
    "Ari",
    "Ellis",
    "Frankie",
    "Jody",
    "Marion",
    "Noel",
    "Remy",
    "Sidney",
    "Sydney",
    "Toni",
    "Tony",
    "Jo",
    "Billie",
    "Sasha",
    "Nikita",
    "Andrea",
    "Kai",
    "River",
    "Emery",
    "Harley",
    "Lindsay",
    "Lindsey",
    "Angel",
]
SPANISH = {
    "female": """María Lucía Carmen Ana Laura Sofía Elena Isabel Marta Paula Julia Sara Cristina
        Raquel Pilar Beatriz Silvia Teresa Patricia Andrea Claudia Irene Alba Nuria Inés Marina
        Valentina Camila Daniela Gabriela Victoria Lorena Natalia Verónica Mónica Rocío Alicia
        Carolina Eva Lourdes Susana Rebeca Noelia Ximena Jimena Adriana Fernanda Josefina""",
    "male": """José Juan Carlos Luis Javier Miguel Antonio Manuel David Pablo Jorge Alejandro
        Francisco Sergio Fernando Diego Daniel Rafael Pedro Andrés Alberto Álvaro Raúl Enrique
        Ramón Vicente Mateo Santiago Lucas Hugo Martín Adrián Iván Rubén Óscar Gonzalo Tomás
        Felipe Ignacio Joaquín Emilio Julio Ricardo Eduardo Héctor Roberto Gabriel Marcos Samuel""",
}


def distinctive(folder: Path) -> dict[str, dict[str, list[str]]]:
    found: dict[str, dict[str, set[str]]] = {"female": {}, "male": {}}
    for file, gender in (("top_womens_names.json", "female"), ("top_mens_names.json", "male")):
        for race, names in json.loads((folder / file).read_text("utf-8")).items():
            for full in names:
                found[gender].setdefault(full.split()[0].title(), set()).add(race)
    both = set(found["female"]) & set(found["male"])
    return {
        gender: {
            race: sorted(n for n, races in names.items() if race in races and n not in both | WORDS)
            for race in RACES
        }
        for gender, names in found.items()
    }


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/names-bloomberg")
    document = {
        "distinctive": distinctive(folder),
        "common": {g: sorted(set(names.split()) - set(UNISEX) - WORDS) for g, names in COMMON.items()},
        "unisex": sorted(set(UNISEX)),
        "paired": PAIRED,
        "spanish": {g: sorted(set(names.split())) for g, names in SPANISH.items()},
    }
    print(
        "# First names read and swapped by bias-audit suites from-prompts; generated by\n"
        "# scripts/build_first_names.py. distinctive: the first names of Bloomberg's 2024 lists of\n"
        "# names most distinctive of a race and gender (BloombergGraphics/2024-openai-gpt-hiring-racial-\n"
        "# discrimination, Apache-2.0; W white, B Black, A Asian, H Hispanic). common, unisex and\n"
        "# spanish are written by the bias-audit project."
    )
    print(yaml.safe_dump(document, allow_unicode=True, sort_keys=False, width=100), end="")


if __name__ == "__main__":
    main()
