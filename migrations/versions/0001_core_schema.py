"""core schema: districts, towns, projects, shares, reference data, imports, audit

Revision ID: 0001_core_schema
Revises: 
Create Date: 2026-11-23 12:49:32.177711
"""
from alembic import op
import sqlalchemy as sa
import geoalchemy2
from sqlalchemy.dialects import postgresql

revision = '0001_core_schema'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('entity', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.Text(), nullable=True),
    sa.Column('district_code', sa.String(length=6), nullable=True),
    sa.Column('before', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('after', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)
    op.create_index('ix_audit_log_entity', 'audit_log', ['entity', 'entity_id'], unique=False)
    op.create_geospatial_table('districts',
    sa.Column('code', sa.String(length=6), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('parent_code', sa.String(length=6), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('geom_source', sa.String(length=8), server_default='towns', nullable=False),
    sa.Column('area_km2', sa.Float(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_districts'))
    )
    op.create_geospatial_index('idx_districts_geom', 'districts', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_table('domains',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('label_zh', sa.Text(), nullable=False),
    sa.Column('label_en', sa.Text(), nullable=False),
    sa.Column('sort_order', sa.Integer(), server_default='0', nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_domains')),
    sa.UniqueConstraint('label_zh', name=op.f('uq_domains_label_zh'))
    )
    op.create_table('funding_sources',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('label_zh', sa.Text(), nullable=False),
    sa.Column('sort_order', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_funding_sources')),
    sa.UniqueConstraint('label_zh', name=op.f('uq_funding_sources_label_zh'))
    )
    op.create_table('categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('domain_code', sa.String(length=32), nullable=False),
    sa.Column('label_zh', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['domain_code'], ['domains.code'], name=op.f('fk_categories_domain_code_domains')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_categories')),
    sa.UniqueConstraint('domain_code', 'label_zh', name=op.f('uq_categories_domain_code'))
    )
    op.create_table('import_batches',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('filename', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('imported', sa.Integer(), server_default='0', nullable=False),
    sa.Column('updated', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rejected', sa.Integer(), server_default='0', nullable=False),
    sa.Column('report', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.ForeignKeyConstraint(['district_code'], ['districts.code'], name=op.f('fk_import_batches_district_code_districts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_batches'))
    )
    op.create_index(op.f('ix_import_batches_district_code'), 'import_batches', ['district_code'], unique=False)
    op.create_geospatial_table('towns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('code', sa.String(length=9), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('valid_from', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('area_km2', sa.Float(), nullable=False),
    sa.Column('source', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['district_code'], ['districts.code'], name=op.f('fk_towns_district_code_districts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_towns')),
    sa.UniqueConstraint('code', 'version', name=op.f('uq_towns_code'))
    )
    op.create_geospatial_index('idx_towns_geom', 'towns', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_towns_district_code'), 'towns', ['district_code'], unique=False)
    op.create_index('uq_towns_current_code', 'towns', ['code'], unique=True, postgresql_where=sa.text('valid_to IS NULL'))
    op.create_geospatial_table('projects',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('code', sa.String(length=24), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('domain_code', sa.String(length=32), nullable=False),
    sa.Column('category', sa.Text(), nullable=True),
    sa.Column('owner', sa.Text(), nullable=False),
    sa.Column('credit_code', sa.String(length=18), nullable=True),
    sa.Column('declared_town', sa.Text(), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('source_crs', sa.String(length=10), server_default='WGS84', nullable=False),
    sa.Column('total_investment', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('equipment_investment', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('completed_investment', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('funding', sa.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('stage_before_suspension', sa.String(length=16), nullable=True),
    sa.Column('planned_start', sa.Date(), nullable=True),
    sa.Column('planned_end', sa.Date(), nullable=True),
    sa.Column('actual_start', sa.Date(), nullable=True),
    sa.Column('actual_end', sa.Date(), nullable=True),
    sa.Column('lead_unit', sa.Text(), nullable=True),
    sa.Column('responsible_units', sa.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('is_key', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=16, scale=3), nullable=True),
    sa.Column('unit', sa.Text(), nullable=True),
    sa.Column('remarks', sa.Text(), nullable=True),
    sa.Column('length_km', sa.Float(), nullable=True),
    sa.Column('area_km2', sa.Float(), nullable=True),
    sa.Column('primary_town_code', sa.String(length=9), nullable=True),
    sa.Column('import_batch_id', sa.BigInteger(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_by', sa.Text(), nullable=True),
    sa.Column('updated_by', sa.Text(), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("stage IN ('reserve', 'approval', 'construction', 'completed', 'suspended', 'cancelled')", name=op.f('ck_projects_stage')),
    sa.CheckConstraint('completed_investment IS NULL OR completed_investment <= total_investment', name=op.f('ck_projects_completed_le_total')),
    sa.CheckConstraint('equipment_investment IS NULL OR equipment_investment <= total_investment', name=op.f('ck_projects_equipment_le_total')),
    sa.CheckConstraint('total_investment >= 0', name=op.f('ck_projects_total_nonnegative')),
    sa.ForeignKeyConstraint(['district_code'], ['districts.code'], name=op.f('fk_projects_district_code_districts')),
    sa.ForeignKeyConstraint(['domain_code'], ['domains.code'], name=op.f('fk_projects_domain_code_domains')),
    sa.ForeignKeyConstraint(['import_batch_id'], ['import_batches.id'], name=op.f('fk_projects_import_batch_id_import_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_projects')),
    sa.UniqueConstraint('code', name=op.f('uq_projects_code'))
    )
    op.create_geospatial_index('idx_projects_geom', 'projects', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_projects_district_code'), 'projects', ['district_code'], unique=False)
    op.create_index('ix_projects_district_stage', 'projects', ['district_code', 'stage'], unique=False)
    op.create_index(op.f('ix_projects_domain_code'), 'projects', ['domain_code'], unique=False)
    op.create_index(op.f('ix_projects_primary_town_code'), 'projects', ['primary_town_code'], unique=False)
    op.create_index(op.f('ix_projects_stage'), 'projects', ['stage'], unique=False)
    op.create_table('project_towns',
    sa.Column('project_id', sa.BigInteger(), nullable=False),
    sa.Column('town_code', sa.String(length=9), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('town_id', sa.Integer(), nullable=False),
    sa.Column('share', sa.Float(), nullable=False),
    sa.Column('length_km', sa.Float(), nullable=True),
    sa.Column('area_km2', sa.Float(), nullable=True),
    sa.CheckConstraint('share > 0 AND share <= 1.000001', name=op.f('ck_project_towns_share_range')),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_project_towns_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['town_id'], ['towns.id'], name=op.f('fk_project_towns_town_id_towns')),
    sa.PrimaryKeyConstraint('project_id', 'town_code', name=op.f('pk_project_towns'))
    )
    op.create_index('ix_project_towns_town_code_project', 'project_towns', ['town_code', 'project_id'], unique=False)
    seed_reference_data()


# Frozen here, not imported from registry.vocab: a revision must seed the same rows forever;
# later vocabulary changes go in a data migration of their own.
SEED_DOMAINS = [  # code, 中文, English, example categories (DESIGN §2, as of this revision)
    ('industry', '工业', 'Industry', ['技术改造', '智能化改造', '节能降碳', '节水改造', '检验检测']),
    ('agriculture', '农业', 'Agriculture', ['农机更新', '粮食烘干', '设施农业', '冷链保鲜']),
    ('transport', '交通运输', 'Transport', ['新能源公交', '新能源出租', '充电设施', '柴油货车淘汰']),
    ('building', '建筑', 'Building', ['住宅电梯', '供热计量', '建筑节能', '工程机械']),
    ('municipal', '市政基础设施', 'Municipal infrastructure', ['燃气管网', '供热管网', '供水设施', '污水处理', '排水防涝', '生命线感知', '环卫设施', '视频监控']),
    ('education', '教育', 'Education', ['实训设备', '教学设备']),
    ('culture_tourism', '文旅', 'Culture & tourism', ['游乐设备', '演艺设备', '智慧旅游', '广电影视']),
    ('sports', '体育', 'Sports', ['健身设施']),
    ('medical', '医疗卫生', 'Medical & health', ['医学影像', '检验设备', '村卫生室', '病房改造', '中医诊疗']),
    ('recycling', '循环利用', 'Recycling', ['回收网点', '报废汽车拆解', '动力电池', '再制造', '二手市场']),
]

SEED_FUNDING = [
    ('ultra_long_bonds', '超长期特别国债'),
    ('central_budget', '中央预算内投资'),
    ('special_bonds', '地方政府专项债券'),
    ('fiscal_subsidy', '财政补贴'),
    ('relending_interest', '再贷款贴息'),
    ('bank_loan', '银行贷款'),
    ('self_raised', '企业自筹'),
    ('other', '其他'),
]


def seed_reference_data() -> None:
    """Domains, example categories and funding sources of DESIGN §2 (admins may add more)."""
    domains = sa.table("domains", sa.column("code"), sa.column("label_zh"), sa.column("label_en"),
                       sa.column("sort_order"))
    categories = sa.table("categories", sa.column("domain_code"), sa.column("label_zh"))
    funding = sa.table("funding_sources", sa.column("code"), sa.column("label_zh"), sa.column("sort_order"))
    op.bulk_insert(domains, [{"code": code, "label_zh": zh, "label_en": en, "sort_order": i}
                             for i, (code, zh, en, _) in enumerate(SEED_DOMAINS)])
    op.bulk_insert(categories, [{"domain_code": code, "label_zh": label}
                                for code, _, _, labels in SEED_DOMAINS for label in labels])
    op.bulk_insert(funding, [{"code": code, "label_zh": zh, "sort_order": i}
                             for i, (code, zh) in enumerate(SEED_FUNDING)])


def downgrade() -> None:
    op.drop_index('ix_project_towns_town_code_project', table_name='project_towns')
    op.drop_table('project_towns')
    op.drop_index(op.f('ix_projects_stage'), table_name='projects')
    op.drop_index(op.f('ix_projects_primary_town_code'), table_name='projects')
    op.drop_index(op.f('ix_projects_domain_code'), table_name='projects')
    op.drop_index('ix_projects_district_stage', table_name='projects')
    op.drop_index(op.f('ix_projects_district_code'), table_name='projects')
    op.drop_geospatial_index('idx_projects_geom', table_name='projects', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('projects')
    op.drop_index('uq_towns_current_code', table_name='towns', postgresql_where=sa.text('valid_to IS NULL'))
    op.drop_index(op.f('ix_towns_district_code'), table_name='towns')
    op.drop_geospatial_index('idx_towns_geom', table_name='towns', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('towns')
    op.drop_index(op.f('ix_import_batches_district_code'), table_name='import_batches')
    op.drop_table('import_batches')
    op.drop_table('categories')
    op.drop_table('funding_sources')
    op.drop_table('domains')
    op.drop_geospatial_index('idx_districts_geom', table_name='districts', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('districts')
    op.drop_index('ix_audit_log_entity', table_name='audit_log')
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    op.drop_table('audit_log')
