"""Layer 6: execution of approved rebalances through alpaca-py and a simulated venue, safe under faults.

    broker.py               the `Broker` interface, order / fill / position values, typed errors, client order ids
    simulated.py (+_store)  the simulated venue: SQLite books under $MERIDIAN_HOME/broker, fill model, faults.py
    alpaca.py               the Alpaca venue over alpaca-py's TradingClient (no hidden re-sends, <= 200 req/min)
    gateway.py              `SafeBroker`: retries, jittered backoff, ambiguous submits settled by lookup
    planning.py             targets of an approved rebalance, legs, limit prices, ADV chunks, trade order
    executor.py             the per-trade flow (veto, short check, chunks, DAY limits, TIF, retries, halt, cancels)
    reconcile.py            broker-is-truth reconciliation of positions, orders and fills
    journal.py              the fsync'd order-event journal of a run, replayed after a crash
    sweep.py                every open Meridian order cancelled, followed and recorded at stop
    live_gate.py            the two live gates (config + typed confirmation per run), paper endpoint check
    fills.py                fill ledger (de-dup, overfills refused), slippage, execution_fills rows, summary
    short_availability.py   the 7-day shortable / easy-to-borrow cache
    session.py / dry_run.py one execution run end to end / the dry run, over DuckDB
    settings.py             the `execution` block of meridian.yaml (broker, retries, executor, simulated venue)
    assets.py, jobs.py, definitions.py      the Dagster wiring (the sensor is sensors/execution.py)
"""
