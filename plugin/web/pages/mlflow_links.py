"""The page at a project's MLflow tracking URI, where MLflow's printed links land.

Every run the client ends prints ``View run <name> at: <tracking URI>/#/experiments/<id>/runs/<run
id>`` and ``View experiment at: <tracking URI>/#/experiments/<id>``. The fragment never reaches a
server, so the tracking URI itself answers a page whose script (``static/mlflow_links.js``) reads
it and opens the run's page or the experiment's, with a plain link to the experiments as the
fallback. Only the bare tracking URI is this page: every path under it is the MLflow API's, whose
unknown routes keep their JSON 404.

It is a page: the caller is the browser session's, as on the other pages (a token sent with it
changes nothing). Who may not read the project's model registry gets a page that says so, in HTML
(under ``/api/`` an error would be answered in JSON), naming nothing of the project; signed out,
its sign-in link keeps the fragment, so the link opens once the caller has signed in.
"""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from package_api.plugin_api import Forbidden, NotFound, Unauthorized, page_principal, page_project_by_ref
from plugin.registry.access import ModelAction
from plugin.web.pages.blueprint import TRACKING_URI, bp
from plugin.web.pages.experiments import runs_url

TEMPLATE = "model_registry/mlflow_link.html"


@bp.get(TRACKING_URI)
def mlflow_link(project_ref: str) -> ResponseReturnValue:
    try:
        project = page_project_by_ref(project_ref, ModelAction.READ_MODEL)
    except Forbidden as refused:
        return render_template(TEMPLATE, project=None, reason=refused.reason), 403
    except Unauthorized:  # a public project whose model registry is for members: as every page
        return redirect(url_for("sessions.new", redirect_to=request.full_path.rstrip("?")))
    except NotFound:
        signed_out = page_principal().is_anonymous
        return render_template(TEMPLATE, project=None, reason=None, signed_out=signed_out), 404
    return render_template(
        TEMPLATE,
        project=project,
        experiments_url=url_for(".experiments", namespace=project.namespace, project=project.path),
        models_url=url_for(".index", namespace=project.namespace, project=project.path),
        runs_url=runs_url(project),
    )
