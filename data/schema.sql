-- Player statistics: the portable subset shared by SQLite, PostgreSQL and Azure SQL.
-- Money is kept in integer cents so sums are exact on every engine.
CREATE TABLE players (
    user_name     VARCHAR(64)  NOT NULL PRIMARY KEY,
    display_name  VARCHAR(128) NOT NULL,
    country       VARCHAR(2)   NOT NULL,
    joined_on     DATE         NOT NULL,
    tier          VARCHAR(16)  NOT NULL
);

CREATE TABLE transactions (
    id              INTEGER      NOT NULL PRIMARY KEY,
    user_name       VARCHAR(64)  NOT NULL REFERENCES players (user_name),
    game            VARCHAR(32)  NOT NULL,
    played_at       VARCHAR(19)  NOT NULL, -- ISO 8601 'YYYY-MM-DDTHH:MM:SS', UTC; sorts as text
    entry_fee_cents INTEGER      NOT NULL,
    points          INTEGER      NOT NULL,
    cash_won_cents  INTEGER      NOT NULL
);

-- Per-player, per-game totals, refreshed from transactions after every load (see
-- TOTALS_REFRESH_SQL in tools/backends/sqlite_stats.py). The summary reads a handful of rows
-- here instead of summing a busy player's tens of thousands of games on every question.
CREATE TABLE player_game_totals (
    user_name       VARCHAR(64)  NOT NULL,
    game            VARCHAR(32)  NOT NULL,
    games_played    INTEGER      NOT NULL,
    entry_fee_cents BIGINT       NOT NULL,
    points          BIGINT       NOT NULL,
    cash_won_cents  BIGINT       NOT NULL,
    last_played     VARCHAR(19)  NOT NULL,
    PRIMARY KEY (user_name, game)
);

-- Covering index for the refresh and for ad-hoc per-player queries: one seek per player.
CREATE INDEX ix_transactions_player_game
    ON transactions (user_name, game, played_at, entry_fee_cents, points, cash_won_cents);
