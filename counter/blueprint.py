"""URL map of the counter surface."""
import importlib

from flask import Blueprint, render_template

bp = Blueprint("counter", __name__, template_folder="templates", static_folder="static")


@bp.get("/")
def index():
    return render_template("counter/index.html")


def init_app(app):
    """Register the core system's PULL API (forwarding) beside the clerk screens."""
    try:
        pull_api = importlib.import_module("counter.pull_api")
    except ModuleNotFoundError as e:
        if e.name != "counter.pull_api":
            raise
        return
    app.register_blueprint(pull_api.bp, url_prefix="/counter/api/v1")
    if hasattr(pull_api, "init_app"):
        pull_api.init_app(app)
