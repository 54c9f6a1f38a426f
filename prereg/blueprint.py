"""URL map of the prereg surface."""
from flask import Blueprint, render_template

bp = Blueprint("prereg", __name__, template_folder="templates", static_folder="static")


@bp.get("/")
def index():
    return render_template("prereg/index.html")
