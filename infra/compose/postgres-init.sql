-- Run once by the postgres image on an empty volume: the databases of the local stack, one owner.
create database airflow owner wenulake;
create database catalog owner wenulake;
create database warehouse owner wenulake;
