-- The search a team without a search service writes first, against the
-- auctions service's normalised tables (gavel_auctions): the request
-- gavel-bench search makes (a text query, year from, mileage up to, price
-- up to; 20 hits, the total; facets on make, region and a 500,000 RUB
-- price histogram) as ILIKE over the text columns, the filters, and one
-- GROUP BY per facet, in one read-only snapshot. The price is the start
-- price (the current one lives in the bids service's database). pgbench
-- runs it (-M prepared) at the same 16 clients as the search benchmark;
-- one transaction is one search.
\set qi random(1, 36)
\set y random(2008, 2019)
\set km 100000 + 20000 * random(0, 10)
\set price 100000000 + 50000000 * random(0, 9)
SELECT '%' || (ARRAY['веста', 'lada vesta', 'гранта', 'нива', 'kia rio', 'киа рио', 'sportage',
    'солярис', 'hyundai creta', 'toyota camry', 'камри', 'rav4', 'land cruiser', 'ленд крузер',
    'polo', 'тигуан', 'octavia', 'шкода октавия', 'logan', 'duster', 'qashqai', 'bmw x5',
    'мерседес', 'e-class', 'cx-5', 'haval jolion', 'tiggo', 'outlander', 'focus', 'патриот',
    'газель', 'без дтп', 'one owner', 'дизель', 'dealer serviced', 'audi a6'])[:qi] || '%' AS q
\gset
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
SELECT l.id, l.title, l.make, l.model, l.year, l.mileage_km, l.region, c.name AS category,
       l.photo_urls[1], l.state, l.currency, l.start_price, l.buy_now_price, l.starts_at_us,
       l.ends_at_us
FROM lots l LEFT JOIN categories c ON c.id = l.category_id
WHERE l.state IN ('scheduled', 'live', 'closed') AND (l.title ILIKE :q OR l.make ILIKE :q
      OR l.model ILIKE :q OR l.description ILIKE :q OR l.vin ILIKE :q)
  AND l.year >= :y AND l.mileage_km <= :km AND l.start_price <= :price
ORDER BY l.ends_at_us, l.id LIMIT 20;
SELECT count(*) FROM lots l
WHERE l.state IN ('scheduled', 'live', 'closed') AND (l.title ILIKE :q OR l.make ILIKE :q
      OR l.model ILIKE :q OR l.description ILIKE :q OR l.vin ILIKE :q)
  AND l.year >= :y AND l.mileage_km <= :km AND l.start_price <= :price;
SELECT l.make, count(*) AS n FROM lots l
WHERE l.state IN ('scheduled', 'live', 'closed') AND (l.title ILIKE :q OR l.make ILIKE :q
      OR l.model ILIKE :q OR l.description ILIKE :q OR l.vin ILIKE :q)
  AND l.year >= :y AND l.mileage_km <= :km AND l.start_price <= :price
GROUP BY l.make ORDER BY n DESC, l.make LIMIT 10;
SELECT l.region, count(*) AS n FROM lots l
WHERE l.state IN ('scheduled', 'live', 'closed') AND (l.title ILIKE :q OR l.make ILIKE :q
      OR l.model ILIKE :q OR l.description ILIKE :q OR l.vin ILIKE :q)
  AND l.year >= :y AND l.mileage_km <= :km AND l.start_price <= :price
GROUP BY l.region ORDER BY n DESC, l.region LIMIT 10;
SELECT l.start_price / 50000000 AS bucket, count(*) FROM lots l
WHERE l.state IN ('scheduled', 'live', 'closed') AND (l.title ILIKE :q OR l.make ILIKE :q
      OR l.model ILIKE :q OR l.description ILIKE :q OR l.vin ILIKE :q)
  AND l.year >= :y AND l.mileage_km <= :km AND l.start_price <= :price
GROUP BY bucket ORDER BY bucket;
COMMIT;
