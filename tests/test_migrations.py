"""The migrations build the same schema as the models, on SQLite and on PostgreSQL."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from webapp.extensions import db


def test_migrations_build_the_models_schema_and_come_back_down(make_app, fresh_database_url):
    app = make_app(SQLALCHEMY_DATABASE_URI=fresh_database_url)
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), db.metadata) == []
        downgrade(revision="base")
        with db.engine.connect() as conn:
            assert db.inspect(conn).get_table_names() == ["alembic_version"]


def test_the_desk_search_keys_migration_keys_the_people_already_there(make_app, fresh_database_url):
    from tests.factories import make_household, make_person, make_town
    from tests.test_desk_search import _keys_in_table, _keys_wanted

    app = make_app(SQLALCHEMY_DATABASE_URI=fresh_database_url)
    with app.app_context():
        upgrade()
        town = make_town("T01", villages=1)
        home = make_household(town.children[0].children[0])
        for name, phone in (("张红梅", "13800001111"), ("赵慧明", None), ("阿依古丽", "0731-8888123")):
            make_person(home, name=name, phone=phone, with_id_number=True)
        wanted = _keys_wanted()
        db.session.commit()
        db.session.remove()
        downgrade(revision="0007")  # the release before the keys, with these people in it
        upgrade()
        assert len(wanted) > 10 and _keys_in_table() == wanted
