"""Scale mode: Redis Streams between stateless ingest processes and ClickHouse writers.

Turned on by `BEACON_REDIS_URL`. `beacon serve` then runs a stateless ingest process
(`ingest_app.py`: no store, sites and salts from Redis, batches acknowledged after
`XADD`), and `beacon worker` runs the writer (`writer.py`: consumer group, large
idempotent inserts, `XACK` after the insert) together with the query API over the store
it owns. Without Redis none of this is imported by the embedded path's hot code.
"""
