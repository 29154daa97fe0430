"""What the tip page suggests: similar reports (search.py / similar.py) and reply templates.

Kept apart from views.py: the tip page's template calls these helpers, so the
page's own view stays as it was. Both read only memory and the unit's
templates file; neither writes anything.
"""

from flask import current_app

from tipdrop.errors import TipdropError
from tipdrop.officer.replytemplates import DEFAULT_TEMPLATES, load_templates
from tipdrop.officer.search import SearchIndexBuildingError


def _desk():
    return current_app.extensions["officer_desk"]


def similar_tips(tip_id: str) -> list | int:
    """Tips of the same region and category whose reports read like this one's.

    While the full-text index is still being built: how far it is (0-99),
    which the page says instead of "no similar report".
    """
    try:
        return _desk().index.similar(tip_id)
    except SearchIndexBuildingError as e:
        return e.percent


def reply_templates():
    """The unit's reply templates and the error that kept its file from being used, if any.

    The file is read for each tip page, so an edit shows at the next one; a
    bad file shows its error above the reply form, and the shipped templates
    stand in until it is fixed.
    """
    try:
        return load_templates(_desk().workspace.dir), None
    except TipdropError as error:
        return DEFAULT_TEMPLATES, error


def init_app(app):
    app.jinja_env.globals.update(similar_tips=similar_tips)
