-- 0004: every instance keeps recently read clients in memory
-- (store.ClientCache); these triggers tell the others when a client
-- changes, so that they forget it at once instead of within the cache's
-- TTL. The payload is "schema id": instances of other schemas in the same
-- database ignore it.
--
-- An update that changes only what the store keeps per token (the balance
-- of a metered client, the first token's time) notifies nothing: such
-- clients are never kept in memory (metered ones at all, the others until
-- their first token). Inserts notify nothing: a client not found is never
-- kept either.
CREATE FUNCTION grantd_client_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('grantd_clients', TG_TABLE_SCHEMA || ' ' || OLD.id);
    RETURN NULL;
END
$$;
CREATE TRIGGER clients_updated AFTER UPDATE ON clients FOR EACH ROW
    WHEN (OLD.balance IS NOT DISTINCT FROM NEW.balance AND OLD.first_token_at IS NOT DISTINCT FROM NEW.first_token_at
        AND OLD.balance_updated_at IS NOT DISTINCT FROM NEW.balance_updated_at)
    EXECUTE FUNCTION grantd_client_changed();
CREATE TRIGGER clients_deleted AFTER DELETE ON clients FOR EACH ROW
    EXECUTE FUNCTION grantd_client_changed();
