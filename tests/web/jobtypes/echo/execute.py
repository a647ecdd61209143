"""A job type for the web tests: each item's result package echoes the item's own package."""

import triggerfish.qb as qb

while True:
    work = qb.requestwork()
    if work["status"] in ("complete", "pending", "blocked"):
        qb.reportjob(work["status"])
        break
    print("echo", work["name"])
    work["status"] = "complete"
    work["resultpackage"] = {"echo": work["package"], "item": work["name"]}
    qb.reportwork(work)
