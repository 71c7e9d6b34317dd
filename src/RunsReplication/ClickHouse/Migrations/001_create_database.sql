-- Database that holds the replicated tables. {database} is replaced by a validated identifier.
CREATE DATABASE IF NOT EXISTS {database};
