"""JupyterHub configuration of the classroom (``make classroom``; see hub.py).

The settings (course folder, accounts, exchange, ports) come from the JSON file that
``course_grading.classroom.hub.setup`` writes, named by $CLASSROOM_SETTINGS.
"""

import os

from course_grading.classroom import hub

c = get_config()  # noqa: F821 - JupyterHub injects get_config
hub.configure(c, hub.load_settings(os.environ[hub.SETTINGS_ENV]))
