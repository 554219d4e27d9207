"""The serving copy of the database: a read-only snapshot published after each writing run, for readers that
must never hold the live file (the desk)."""
