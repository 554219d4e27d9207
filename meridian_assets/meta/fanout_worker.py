"""The first module the research executor's fork server imports (meta.jobs.RESEARCH_PRELOAD): one library
thread per step process.

The fanned-out research run (`meta_research_sleeves_job`) executes each step in a process forked from one fork
server per run, and the steps run one per core side by side, as `meta.sweep`'s workers do. Importing this
module pins POLARS_MAX_THREADS and the OpenMP / OpenBLAS / MKL thread counts to 1 in the server's environment
before the rest of its preload (the code location, cvxpy, the Dagster instance's storage modules) imports any
numerical library: those read their thread settings when first imported, and polars' allocator starts
background threads at import, which a process that forks must not have. Every forked step inherits the
environment. Only that server imports this module: importing it elsewhere would change the process's threads.
"""

import os

# The same settings as meta.sweep.SINGLE_THREAD (not imported from there: that module loads polars).
SINGLE_THREAD = {k: "1" for k in ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                  "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")}
SINGLE_THREAD["_RJEM_MALLOC_CONF"] = "background_thread:false"
os.environ.update(SINGLE_THREAD)
