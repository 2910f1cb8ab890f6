"""The paper's agreement and image-quality analysis (Tables 1–5, Figures 3–4) as one command:
``quantsr report --cohort DIR -o REPORT_DIR`` → report.html, results.json and PNG figures."""
