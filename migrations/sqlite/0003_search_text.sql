-- What search matches, lowercased once at write time instead of on every query.
ALTER TABLE packages ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
UPDATE packages SET search_text = LOWER(namespace || ':' || name || ' ' || COALESCE(description, ''));
