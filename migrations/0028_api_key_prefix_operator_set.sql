-- A key an operator chose (ADMIN_API_KEY) is listed without any part of it: its first ten
-- characters were shown, and such a value may have little entropy (an outside probe). Generated
-- keys (cm_ + 256 random bits) keep their prefix.
UPDATE "api_keys" SET "prefix" = '(operator-set)' WHERE "prefix" NOT LIKE 'cm\_%';
