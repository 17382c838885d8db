-- The runtime a pull intent was asked for, so a later re-check decides on the same context.
alter table pull_intents add column runtime_class text;
