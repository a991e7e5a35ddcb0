/// One step of the schema's history. Steps are append-only: a released step is never edited,
/// a change is a new step.
package struct Migration: Sendable {
    package var version: Int
    package var name: String
    package var sql: String

    package init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// The schema, as the ordered steps that build it; `PRAGMA user_version` records the last one applied.
package enum Migrations {
    package static let all: [Migration] = [
        Migration(version: 1, name: "initial schema", sql: initialSchema),
        Migration(version: 2, name: "per-document chunking options", sql: documentChunking),
    ]

    package static var latestVersion: Int { all.last?.version ?? 0 }

    /// Applies the steps the database has not seen, each in its own transaction.
    ///
    /// The version is re-read inside each IMMEDIATE transaction, so two processes opening the
    /// same new file at once do not both apply a step. A database from a newer Trove (a version
    /// this code does not know) is refused rather than written to.
    package static func migrate(_ connection: SQLiteConnection, steps: [Migration] = all) throws {
        let known = steps.last?.version ?? 0
        func refuseNewer(_ current: Int) throws {
            if current > known {
                throw MetadataStoreError(
                    .failedPrecondition,
                    "the metadata database has schema version \(current), newer than this Trove knows (\(known))"
                )
            }
        }
        try refuseNewer(try userVersion(connection))
        for step in steps {
            try connection.transaction {
                let current = try userVersion(connection)
                try refuseNewer(current)
                guard current < step.version else { return }
                try connection.execute(step.sql)
                try connection.execute("PRAGMA user_version = \(step.version)")
            }
        }
    }

    package static func userVersion(_ connection: SQLiteConnection) throws -> Int {
        try connection.queryFirst("PRAGMA user_version", cached: false) { $0.int(0) } ?? 0
    }

    // A document may be chunked differently from its collection (an ingest or reprocess that
    // names its own options); NULL unit and 0 size mean "the collection's".
    private static let documentChunking = """
        ALTER TABLE documents ADD COLUMN chunk_unit TEXT
            CONSTRAINT chunking_unit CHECK (chunk_unit IN ('tokens', 'characters'));
        ALTER TABLE documents ADD COLUMN chunk_size INTEGER NOT NULL DEFAULT 0
            CONSTRAINT chunking_size CHECK (chunk_size >= 0);
        ALTER TABLE documents ADD COLUMN chunk_overlap INTEGER NOT NULL DEFAULT 0
            CONSTRAINT chunking_overlap CHECK (chunk_overlap >= 0 AND (chunk_overlap = 0 OR chunk_overlap < chunk_size));
        """

    // Times are INTEGER microseconds since 1970 (UTC). Ids are lower-case UUID text. Every CHECK
    // constraint is named after the field it checks: SQLite reports that name, and the store
    // turns it into the field of an INVALID_ARGUMENT error.
    private static let initialSchema = """
        CREATE TABLE collections (
            name TEXT NOT NULL PRIMARY KEY
                CONSTRAINT name CHECK (length(name) BETWEEN 1 AND 128 AND name NOT GLOB '*[^A-Za-z0-9._-]*'),
            embedding_model TEXT NOT NULL CONSTRAINT embedding_model CHECK (length(embedding_model) > 0),
            dimension INTEGER NOT NULL CONSTRAINT dimension CHECK (dimension > 0),
            metric TEXT NOT NULL CONSTRAINT metric CHECK (metric IN ('cosine', 'l2', 'inner_product')),
            chunk_unit TEXT CONSTRAINT chunking_unit CHECK (chunk_unit IN ('tokens', 'characters')),
            chunk_size INTEGER NOT NULL DEFAULT 0 CONSTRAINT chunking_size CHECK (chunk_size >= 0),
            chunk_overlap INTEGER NOT NULL DEFAULT 0
                CONSTRAINT chunking_overlap CHECK (chunk_overlap >= 0 AND (chunk_overlap = 0 OR chunk_overlap < chunk_size)),
            metadata TEXT NOT NULL DEFAULT '{}' CONSTRAINT metadata CHECK (json_type(metadata) = 'object'),
            created_at INTEGER NOT NULL
        );

        -- A collection pins its model and dimension: every vector in it must agree.
        CREATE TRIGGER collections_pin BEFORE UPDATE OF embedding_model, dimension ON collections BEGIN
            SELECT RAISE(ABORT, 'embedding_model: a collection''s embedding model cannot change')
            WHERE NEW.embedding_model IS NOT OLD.embedding_model;
            SELECT RAISE(ABORT, 'dimension: a collection''s dimension cannot change')
            WHERE NEW.dimension IS NOT OLD.dimension;
        END;

        CREATE TABLE documents (
            id TEXT NOT NULL PRIMARY KEY,
            collection TEXT NOT NULL REFERENCES collections(name) ON DELETE CASCADE,
            filename TEXT NOT NULL DEFAULT '',
            mime_type TEXT NOT NULL DEFAULT '',
            object_type TEXT CONSTRAINT object_type CHECK (object_type IN ('text', 'image', 'audio', 'video', 'document')),
            sha256 TEXT NOT NULL CONSTRAINT sha256 CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
            location_bucket TEXT,
            location_key TEXT,
            size_bytes INTEGER NOT NULL DEFAULT 0 CONSTRAINT size_bytes CHECK (size_bytes >= 0),
            metadata TEXT NOT NULL DEFAULT '{}' CONSTRAINT metadata CHECK (json_type(metadata) = 'object'),
            status TEXT NOT NULL DEFAULT 'pending'
                CONSTRAINT status CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
            error_message TEXT,
            attempts INTEGER NOT NULL DEFAULT 0 CONSTRAINT attempts CHECK (attempts >= 0),
            version INTEGER NOT NULL DEFAULT 1 CONSTRAINT version CHECK (version >= 1),
            chunk_count INTEGER NOT NULL DEFAULT 0 CONSTRAINT chunk_count CHECK (chunk_count >= 0),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            UNIQUE (collection, sha256)
        );
        CREATE INDEX documents_by_collection ON documents (collection, created_at, id);
        CREATE INDEX documents_by_status ON documents (status, created_at, id);
        CREATE INDEX documents_by_created ON documents (created_at, id);

        -- pk is the stable integer key the full-text index refers to.
        CREATE TABLE chunks (
            pk INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            document_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
            sequence INTEGER NOT NULL CONSTRAINT sequence CHECK (sequence >= 0),
            content TEXT NOT NULL,
            start_offset INTEGER NOT NULL CONSTRAINT start_offset CHECK (start_offset >= 0),
            end_offset INTEGER NOT NULL CONSTRAINT end_offset CHECK (end_offset > start_offset),
            token_count INTEGER NOT NULL DEFAULT 0 CONSTRAINT token_count CHECK (token_count >= 0),
            UNIQUE (document_id, sequence)
        );

        -- External-content full-text index: the text lives once, in chunks; triggers keep the
        -- index in step in the same transaction, including deletes cascaded from documents.
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            content, content = 'chunks', content_rowid = 'pk', tokenize = 'unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts (rowid, content) VALUES (NEW.pk, NEW.content);
        END;
        CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts (chunks_fts, rowid, content) VALUES ('delete', OLD.pk, OLD.content);
        END;
        CREATE TRIGGER chunks_fts_update AFTER UPDATE OF content ON chunks BEGIN
            INSERT INTO chunks_fts (chunks_fts, rowid, content) VALUES ('delete', OLD.pk, OLD.content);
            INSERT INTO chunks_fts (rowid, content) VALUES (NEW.pk, NEW.content);
        END;

        CREATE TABLE chunk_relationships (
            source_chunk_id TEXT NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
            target_chunk_id TEXT NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
            type TEXT NOT NULL CONSTRAINT type CHECK (length(type) > 0),
            weight REAL NOT NULL DEFAULT 1 CONSTRAINT weight CHECK (weight >= 0 AND weight <= 1),
            metadata TEXT NOT NULL DEFAULT '{}' CONSTRAINT metadata CHECK (json_type(metadata) = 'object'),
            created_at INTEGER NOT NULL,
            PRIMARY KEY (source_chunk_id, target_chunk_id, type),
            CONSTRAINT target_chunk_id CHECK (target_chunk_id <> source_chunk_id)
        ) WITHOUT ROWID;
        CREATE INDEX chunk_relationships_by_target ON chunk_relationships (target_chunk_id, type);

        CREATE TABLE annotations (
            id TEXT NOT NULL PRIMARY KEY,
            document_id TEXT REFERENCES documents(id) ON DELETE CASCADE,
            chunk_id TEXT REFERENCES chunks(id) ON DELETE CASCADE,
            annotator TEXT NOT NULL CONSTRAINT annotator CHECK (length(annotator) > 0),
            type TEXT NOT NULL CONSTRAINT type CHECK (length(type) > 0),
            content TEXT NOT NULL DEFAULT '{}' CONSTRAINT content CHECK (json_type(content) = 'object'),
            confidence REAL NOT NULL DEFAULT 1 CONSTRAINT confidence CHECK (confidence >= 0 AND confidence <= 1),
            version INTEGER NOT NULL DEFAULT 1 CONSTRAINT version CHECK (version >= 1),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            CONSTRAINT target CHECK ((document_id IS NULL) <> (chunk_id IS NULL))
        );
        CREATE INDEX annotations_by_document ON annotations (document_id, type, created_at, id);
        CREATE INDEX annotations_by_chunk ON annotations (chunk_id, type, created_at, id);

        CREATE TABLE embedding_records (
            chunk_id TEXT NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
            model TEXT NOT NULL CONSTRAINT model CHECK (length(model) > 0),
            dimension INTEGER NOT NULL CONSTRAINT dimension CHECK (dimension > 0),
            vector_collection TEXT NOT NULL,
            vector_id TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (chunk_id, model)
        ) WITHOUT ROWID;

        -- An embedding record must come from its collection's model, at its dimension.
        CREATE TRIGGER embedding_records_pin BEFORE INSERT ON embedding_records BEGIN
            SELECT RAISE(ABORT, 'model: is not the embedding model of the chunk''s collection')
            WHERE NEW.model IS NOT (
                SELECT co.embedding_model FROM chunks c
                JOIN documents d ON d.id = c.document_id JOIN collections co ON co.name = d.collection
                WHERE c.id = NEW.chunk_id);
            SELECT RAISE(ABORT, 'dimension: is not the dimension of the chunk''s collection')
            WHERE NEW.dimension IS NOT (
                SELECT co.dimension FROM chunks c
                JOIN documents d ON d.id = c.document_id JOIN collections co ON co.name = d.collection
                WHERE c.id = NEW.chunk_id);
        END;
        CREATE TRIGGER embedding_records_pin_update BEFORE UPDATE ON embedding_records BEGIN
            SELECT RAISE(ABORT, 'model: is not the embedding model of the chunk''s collection')
            WHERE NEW.model IS NOT (
                SELECT co.embedding_model FROM chunks c
                JOIN documents d ON d.id = c.document_id JOIN collections co ON co.name = d.collection
                WHERE c.id = NEW.chunk_id);
            SELECT RAISE(ABORT, 'dimension: is not the dimension of the chunk''s collection')
            WHERE NEW.dimension IS NOT (
                SELECT co.dimension FROM chunks c
                JOIN documents d ON d.id = c.document_id JOIN collections co ON co.name = d.collection
                WHERE c.id = NEW.chunk_id);
        END;

        CREATE TABLE api_keys (
            id TEXT NOT NULL PRIMARY KEY CONSTRAINT id CHECK (length(id) > 0),
            name TEXT NOT NULL,
            role TEXT NOT NULL CONSTRAINT role CHECK (role IN ('readonly', 'datawriter', 'admin', 'service')),
            collections TEXT NOT NULL DEFAULT '[]' CONSTRAINT collections CHECK (json_type(collections) = 'array'),
            secret_hash TEXT NOT NULL UNIQUE CONSTRAINT secret_hash CHECK (length(secret_hash) > 0),
            created_at INTEGER NOT NULL,
            revoked_at INTEGER,
            last_used_at INTEGER
        );

        CREATE TABLE audit_events (
            id TEXT NOT NULL PRIMARY KEY,
            time INTEGER NOT NULL,
            key_id TEXT,
            service TEXT NOT NULL,
            method TEXT NOT NULL,
            target_ids TEXT NOT NULL DEFAULT '[]' CONSTRAINT target_ids CHECK (json_type(target_ids) = 'array'),
            outcome TEXT NOT NULL,
            request_id TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX audit_events_by_time ON audit_events (time, id);
        CREATE INDEX audit_events_by_key ON audit_events (key_id, time, id);
        """
}
