"""Start and stop real backing services on free loopback ports, for the tests and the
benchmarks (never imported by the application).

Plain Python (no pytest) so that bench scripts use it as the tests do. Configuration comes
from ``TEST_*`` variables only: the application refuses unknown ``LANGUAGEMATE_*`` ones.
"""

from devservices.moto_s3 import MotoS3
from devservices.postgres import PostgresCluster, create_database, drop_database, postgres_admin_url
from devservices.process import ServiceError, free_port, unique_name
from devservices.redis_server import RedisServer, redis_db_url, redis_server_url
from devservices.tansu import Tansu, tansu_binary

__all__ = [
    "MotoS3",
    "PostgresCluster",
    "RedisServer",
    "ServiceError",
    "Tansu",
    "create_database",
    "drop_database",
    "free_port",
    "postgres_admin_url",
    "redis_db_url",
    "redis_server_url",
    "tansu_binary",
    "unique_name",
]
