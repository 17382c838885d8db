//! The decision-log writer: one task that group-commits decisions, while each caller waits for
//! its own record to be durable.
