-- The search benchmark's catalog: :n generated vehicle lots written
-- straight into the auctions service's lots table (bench data only; the
-- daemon writes lots through CreateLot), then copied into the search index
-- by a Reindex, as an operator would build it. Deterministic (setseed).
--
-- Makes and models are the Russian market's, each title in Russian (about
-- half: «Лада Веста 2018, 1.6 МТ») or English («Lada Vesta 2018, 1.6 MT»),
-- descriptions mix both; regions are Russian regions by population weight;
-- years 2000..2024, mileage by age, prices by model class and age; states:
-- 55 % live, 20 % scheduled, 20 % closed, 5 % draft / in review / rejected
-- (never visible).
\set now_us `date +%s%6N`
SELECT setseed(0.1818);
INSERT INTO categories (parent_id, name, slug, depth, created_at_us)
VALUES (NULL, 'Search bench vehicles', 'search-bench-vehicles', 0, 0)
ON CONFLICT (slug) DO NOTHING;
INSERT INTO categories (parent_id, name, slug, depth, created_at_us)
SELECT (SELECT id FROM categories WHERE slug = 'search-bench-vehicles'), k, 'search-bench-' || k, 1, 0
FROM unnest(ARRAY['Sedan', 'SUV', 'Hatchback', 'Wagon', 'Pickup', 'Van']) k
ON CONFLICT (slug) DO NOTHING;

CREATE TEMP TABLE models (i serial, make text, make_ru text, model text, model_ru text,
                          base bigint, weight int);
INSERT INTO models (make, make_ru, model, model_ru, base, weight) VALUES
 ('Lada', 'Лада', 'Vesta', 'Веста', 1300000, 14), ('Lada', 'Лада', 'Granta', 'Гранта', 900000, 14),
 ('Lada', 'Лада', 'Niva', 'Нива', 1000000, 8), ('Lada', 'Лада', 'Largus', 'Ларгус', 1200000, 4),
 ('Kia', 'Киа', 'Rio', 'Рио', 1500000, 9), ('Kia', 'Киа', 'Sportage', 'Спортейдж', 2800000, 5),
 ('Kia', 'Киа', 'Ceed', 'Сид', 1900000, 3),
 ('Hyundai', 'Хендай', 'Solaris', 'Солярис', 1400000, 9),
 ('Hyundai', 'Хендай', 'Creta', 'Крета', 2000000, 6),
 ('Hyundai', 'Хендай', 'Tucson', 'Туссан', 2900000, 3),
 ('Toyota', 'Тойота', 'Camry', 'Камри', 3200000, 6),
 ('Toyota', 'Тойота', 'Corolla', 'Королла', 2100000, 4),
 ('Toyota', 'Тойота', 'RAV4', 'РАВ4', 3300000, 5),
 ('Toyota', 'Тойота', 'Land Cruiser', 'Ленд Крузер', 7500000, 3),
 ('Volkswagen', 'Фольксваген', 'Polo', 'Поло', 1400000, 6),
 ('Volkswagen', 'Фольксваген', 'Tiguan', 'Тигуан', 3000000, 4),
 ('Volkswagen', 'Фольксваген', 'Passat', 'Пассат', 2500000, 2),
 ('Skoda', 'Шкода', 'Octavia', 'Октавия', 2000000, 6),
 ('Skoda', 'Шкода', 'Rapid', 'Рапид', 1300000, 4),
 ('Skoda', 'Шкода', 'Kodiaq', 'Кодиак', 3200000, 2),
 ('Renault', 'Рено', 'Logan', 'Логан', 900000, 5), ('Renault', 'Рено', 'Duster', 'Дастер', 1500000, 5),
 ('Nissan', 'Ниссан', 'Qashqai', 'Кашкай', 2100000, 4),
 ('Nissan', 'Ниссан', 'X-Trail', 'Икс-Трейл', 2600000, 3),
 ('BMW', 'БМВ', 'X5', 'Х5', 7000000, 3), ('BMW', 'БМВ', '3 Series', '3 серии', 4000000, 2),
 ('BMW', 'БМВ', '5 Series', '5 серии', 5000000, 2),
 ('Mercedes-Benz', 'Мерседес-Бенц', 'E-Class', 'Е-класс', 5500000, 3),
 ('Mercedes-Benz', 'Мерседес-Бенц', 'GLC', 'ГЛЦ', 6000000, 2),
 ('Mazda', 'Мазда', 'CX-5', 'СХ-5', 2900000, 3), ('Mazda', 'Мазда', '6', '6', 2300000, 2),
 ('Haval', 'Хавал', 'Jolion', 'Джолион', 2100000, 4), ('Haval', 'Хавал', 'F7', 'Ф7', 2600000, 3),
 ('Chery', 'Чери', 'Tiggo 7 Pro', 'Тигго 7 Про', 2300000, 4),
 ('Geely', 'Джили', 'Coolray', 'Кулрей', 2200000, 3),
 ('Mitsubishi', 'Мицубиси', 'Outlander', 'Аутлендер', 2700000, 3),
 ('Ford', 'Форд', 'Focus', 'Фокус', 1100000, 4), ('UAZ', 'УАЗ', 'Patriot', 'Патриот', 1500000, 2),
 ('GAZ', 'ГАЗ', 'Gazelle Next', 'Газель Некст', 2400000, 2),
 ('Audi', 'Ауди', 'A6', 'А6', 4500000, 2);
-- cumulative weights for a weighted draw
CREATE TEMP TABLE mw AS
SELECT i, sum(weight) OVER (ORDER BY i) - weight AS lo, sum(weight) OVER (ORDER BY i) AS hi,
       sum(weight) OVER () AS total FROM models;

CREATE TEMP TABLE regions (i serial, name text, weight int);
INSERT INTO regions (name, weight) VALUES
 ('Москва', 25), ('Московская область', 15), ('Санкт-Петербург', 12),
 ('Ленинградская область', 4), ('Краснодарский край', 8), ('Свердловская область', 6),
 ('Республика Татарстан', 6), ('Новосибирская область', 5), ('Нижегородская область', 5),
 ('Самарская область', 5), ('Ростовская область', 5), ('Челябинская область', 4),
 ('Башкортостан', 4), ('Тверская область', 3), ('Воронежская область', 3),
 ('Пермский край', 3), ('Красноярский край', 3), ('Приморский край', 2),
 ('Калининградская область', 2), ('Ярославская область', 2);
CREATE TEMP TABLE rw AS
SELECT i, sum(weight) OVER (ORDER BY i) - weight AS lo, sum(weight) OVER (ORDER BY i) AS hi,
       sum(weight) OVER () AS total FROM regions;

CREATE TEMP TABLE draws AS
SELECT g, random() AS rm, random() AS rr, random() AS rs, random() AS ry, random() AS rk,
       random() AS rp, random() AS rl, random() AS rt, random() AS rd, random() AS rc,
       random() AS re
FROM generate_series(1, :n) g;

INSERT INTO lots (seller_id, state, title, description, make, model, year, mileage_km, vin,
                  region, city_id, category_id, photo_urls, currency, start_price,
                  reserve_price, buy_now_price, increment_from, increment_step,
                  soft_close_window_seconds, max_extensions, starts_at_us, ends_at_us,
                  bid_count, created_at_us, updated_at_us)
SELECT 1 + (d.g * 7919) % 20000,
       st.state,
       CASE WHEN d.rt < 0.5
            THEN m.make_ru || ' ' || m.model_ru || ' ' || y.year || ', ' ||
                 (ARRAY['1.6 МТ', '2.0 АТ', '1.4 AMT', '2.5 4WD', '1.5 CVT'])[1 + (d.rd * 5)::int % 5]
            ELSE m.make || ' ' || m.model || ' ' || y.year || ', ' ||
                 (ARRAY['1.6 MT', '2.0 AT', '1.4 AMT', '2.5 AWD', '1.5 CVT'])[1 + (d.rd * 5)::int % 5]
       END,
       (ARRAY['Один владелец, обслуживался у дилера, ', 'Без ДТП, ', 'После ДТП, восстановлен, ',
              'Требует ремонта двигателя, ', 'One owner, dealer serviced, ',
              'Minor body damage, ', 'Lease return, full service history, ',
              'Такси в прошлом, ', 'Зимняя резина в комплекте, ',
              'Salvage title, runs and drives, '])[1 + (d.rc * 10)::int % 10] ||
       m.make || ' ' || m.model || ' ' || y.year || ', пробег ' || k.km || ' км, ' ||
       (ARRAY['бензин', 'дизель', 'гибрид', 'газ/бензин'])[1 + (d.re * 4)::int % 4] || '.',
       m.make, m.model, y.year, k.km,
       upper(substr(md5(d.g::text), 1, 17)),
       r.name, 1 + (d.rr * 500)::bigint,
       (SELECT id FROM categories WHERE slug = 'search-bench-' ||
            (ARRAY['Sedan', 'SUV', 'Hatchback', 'Wagon', 'Pickup', 'Van'])[1 + (d.rc * 6)::int % 6]),
       ARRAY['https://img.gavel.test/bench/' || d.g || '.jpg'],
       'RUB', p.price,
       CASE WHEN d.rp < 0.3 THEN p.price * 12 / 10 END,
       CASE WHEN d.rp > 0.8 THEN p.price * 15 / 10 END,
       '{0}', '{500000}', 120, 10,
       CASE st.state WHEN 'scheduled' THEN :now_us + (1 + d.rk * 7 * 86400)::bigint * 1000000
                     WHEN 'live' THEN :now_us - (1 + d.rk * 3 * 86400)::bigint * 1000000
                     WHEN 'closed' THEN :now_us - (4 * 86400 + d.rk * 60 * 86400)::bigint * 1000000
                     ELSE NULL END,
       CASE st.state WHEN 'scheduled' THEN :now_us + (8 * 86400 + d.rk * 7 * 86400)::bigint * 1000000
                     WHEN 'live' THEN :now_us + (60 + d.rl * 7 * 86400)::bigint * 1000000
                     WHEN 'closed' THEN :now_us - (1 * 86400 + d.rk * 30 * 86400)::bigint * 1000000
                     ELSE NULL END,
       CASE WHEN st.state = 'closed' THEN (d.rl * 40)::bigint END,
       :now_us - (d.rk * 90 * 86400)::bigint * 1000000, :now_us - (d.rl * 86400)::bigint * 1000000
FROM draws d
JOIN mw ON floor(d.rm * mw.total) >= mw.lo AND floor(d.rm * mw.total) < mw.hi
JOIN models m ON m.i = mw.i
JOIN rw ON floor(d.rr * rw.total) >= rw.lo AND floor(d.rr * rw.total) < rw.hi
JOIN regions r ON r.i = rw.i
CROSS JOIN LATERAL (SELECT 2000 + floor(power(d.ry, 0.6) * 25)::int AS year) y
CROSS JOIN LATERAL (SELECT (greatest(2025 - y.year, 0) * (8000 + d.rk * 17000)
                            + d.rl * 15000)::int AS km) k
CROSS JOIN LATERAL (SELECT (m.base * power(0.9, 2025 - y.year) * (0.7 + d.rp * 0.6))::bigint
                           / 1000 * 100000 AS price) p
CROSS JOIN LATERAL (SELECT CASE WHEN d.rs < 0.55 THEN 'live' WHEN d.rs < 0.75 THEN 'scheduled'
                                WHEN d.rs < 0.95 THEN 'closed' WHEN d.rs < 0.97 THEN 'draft'
                                WHEN d.rs < 0.99 THEN 'in_review' ELSE 'rejected' END AS state) st;
ANALYZE lots;
