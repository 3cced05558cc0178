"""The catalog service: REST API (`/api/v1/...`) and backoffice pages over the catalog database."""
