"""URL map of the counter surface."""
from flask import Blueprint, render_template

bp = Blueprint("counter", __name__, template_folder="templates", static_folder="static")


@bp.get("/")
def index():
    return render_template("counter/index.html")
