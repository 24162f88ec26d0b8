"""The paper's blind pairwise listening study (Sec. 4.4, App. A.7): build stimuli from a Table 1 run
(build.py), collect answers in a web app backed by SQLite (server.py, storage.py, static/), and
compute the paper's statistics (analysis.py) rendered as Fig. 4 and a report (render.py)."""
