"""URL map of the kiosk surface."""
from flask import Blueprint, render_template

bp = Blueprint("kiosk", __name__, template_folder="templates", static_folder="static")


@bp.get("/")
def index():
    return render_template("kiosk/index.html")
