-- A decision's request and entity slice (~1.7 KB of JSON per review, issue 12) are written with
-- every decision and only ever read back whole (listings, replay): nothing queries inside them.
-- As jsonb, every insert parsed them into PostgreSQL's binary form (measured on 20,000 rows of
-- review-sized JSON through the decision table's six indexes: 1.3-1.9x the insert time of the
-- same rows as json). As json the server only validates the text and stores it as written. Never
-- edit once landed: add a new migration instead. (Rewrites the table once.)
alter table decisions
    alter column request type json using request::json,
    alter column entities type json using entities::json;
