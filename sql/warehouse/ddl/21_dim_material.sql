-- dim_material: one row per material a repair can use (materials.csv). Redshift: diststyle all.
create table if not exists dim_material (
    material_id varchar(64) primary key,
    name varchar(256) not null,
    unit varchar(32) not null
)
