-- What the last passing verification established (signer identities and key ids, SLSA
-- provenance), as JSON, so policies read it from the artifact. Older rows start empty: their
-- next verification fills it in.
alter table artifacts add column trust_facts text not null default '{}';
