import GRPCCore
import TroveContracts

extension AccessPolicy {
    public static let trove: AccessPolicy = {
        typealias MetadataRPC = Trove_V1_Metadata.Method
        typealias ObjectStorageRPC = Trove_V1_ObjectStorage.Method
        typealias EmbeddingRPC = Trove_V1_Embedding.Method
        typealias VectorSearchRPC = Trove_V1_VectorSearch.Method
        typealias IngestionRPC = Trove_V1_Ingestion.Method
        typealias HealthRPC = Grpc_Health_V1_Health.Method

        var policy = AccessPolicy()

        // MARK: - trove.v1.Metadata

        policy.add(MetadataRPC.CreateCollection.descriptor, .admin, request: MetadataRPC.CreateCollection.Input.self) {
            .collection(ifNamed: $0.collection.name)
        }
        policy.add(MetadataRPC.GetCollection.descriptor, .read, request: MetadataRPC.GetCollection.Input.self) {
            .collection(ifNamed: $0.name)
        }
        policy.add(MetadataRPC.ListCollections.descriptor, .read)
        policy.add(MetadataRPC.UpdateCollection.descriptor, .admin, request: MetadataRPC.UpdateCollection.Input.self) {
            .collection(ifNamed: $0.name)
        }
        policy.add(MetadataRPC.DeleteCollection.descriptor, .admin, request: MetadataRPC.DeleteCollection.Input.self) {
            .collection(ifNamed: $0.name)
        }
        policy.add(MetadataRPC.CreateDocument.descriptor, .write, request: MetadataRPC.CreateDocument.Input.self) {
            .collection(ifNamed: $0.document.collection, ids: [$0.document.filename])
        }
        policy.add(MetadataRPC.GetDocument.descriptor, .read, request: MetadataRPC.GetDocument.Input.self) {
            .present($0.id)
        }
        policy.add(MetadataRPC.ListDocuments.descriptor, .read, request: MetadataRPC.ListDocuments.Input.self) {
            .collection(ifNamed: $0.collection)
        }
        policy.add(MetadataRPC.UpdateDocument.descriptor, .write, request: MetadataRPC.UpdateDocument.Input.self) {
            .present($0.id)
        }
        policy.add(MetadataRPC.UpdateDocumentStatus.descriptor, .write, request: MetadataRPC.UpdateDocumentStatus.Input.self) {
            .present($0.id)
        }
        policy.add(MetadataRPC.DeleteDocument.descriptor, .write, request: MetadataRPC.DeleteDocument.Input.self) {
            .present($0.id)
        }
        policy.add(MetadataRPC.PutChunks.descriptor, .write, request: MetadataRPC.PutChunks.Input.self) {
            .present($0.documentID)
        }
        policy.add(MetadataRPC.GetChunks.descriptor, .read, request: MetadataRPC.GetChunks.Input.self) {
            .ids(Array($0.ids.prefix(16)))
        }
        policy.add(MetadataRPC.ListChunks.descriptor, .read, request: MetadataRPC.ListChunks.Input.self) {
            .present($0.documentID)
        }
        policy.add(MetadataRPC.DeleteChunks.descriptor, .write, request: MetadataRPC.DeleteChunks.Input.self) {
            .present($0.documentID)
        }
        policy.add(MetadataRPC.SearchChunksText.descriptor, .read, request: MetadataRPC.SearchChunksText.Input.self) {
            .collection(ifNamed: $0.collection)
        }
        policy.add(MetadataRPC.AddRelationships.descriptor, .write, request: MetadataRPC.AddRelationships.Input.self) { request in
            .ids(request.relationships.prefix(8).flatMap { [$0.sourceChunkID, $0.targetChunkID] })
        }
        policy.add(MetadataRPC.ListRelationships.descriptor, .read, request: MetadataRPC.ListRelationships.Input.self) {
            .present($0.sourceChunkID, $0.targetChunkID)
        }
        policy.add(MetadataRPC.GetNeighbors.descriptor, .read, request: MetadataRPC.GetNeighbors.Input.self) {
            .present($0.chunkID)
        }
        policy.add(MetadataRPC.DeleteRelationship.descriptor, .write, request: MetadataRPC.DeleteRelationship.Input.self) {
            .present($0.sourceChunkID, $0.targetChunkID)
        }
        policy.add(MetadataRPC.AddAnnotation.descriptor, .write, request: MetadataRPC.AddAnnotation.Input.self) {
            .present($0.annotation.target.documentID, $0.annotation.target.chunkID)
        }
        policy.add(MetadataRPC.ListAnnotations.descriptor, .read, request: MetadataRPC.ListAnnotations.Input.self) {
            .present($0.target.documentID, $0.target.chunkID)
        }
        policy.add(MetadataRPC.UpdateAnnotation.descriptor, .write, request: MetadataRPC.UpdateAnnotation.Input.self) {
            .present($0.id)
        }
        policy.add(MetadataRPC.DeleteAnnotation.descriptor, .write, request: MetadataRPC.DeleteAnnotation.Input.self) {
            .present($0.id)
        }
        policy.add(MetadataRPC.PutEmbeddingRecords.descriptor, .write, request: MetadataRPC.PutEmbeddingRecords.Input.self) { request in
            .ids(request.records.prefix(16).map { $0.chunkID })
        }
        policy.add(MetadataRPC.ListEmbeddingRecords.descriptor, .read, request: MetadataRPC.ListEmbeddingRecords.Input.self) {
            .present($0.chunkID, $0.documentID)
        }
        policy.add(MetadataRPC.DeleteEmbeddingRecords.descriptor, .write, request: MetadataRPC.DeleteEmbeddingRecords.Input.self) {
            .present($0.chunkID, $0.documentID)
        }
        policy.add(MetadataRPC.GetStats.descriptor, .read)
        policy.add(MetadataRPC.ApplyRetention.descriptor, .admin)
        // A key for every collection (none listed) names no collection, so only an unlimited admin may create one.
        policy.add(MetadataRPC.CreateApiKey.descriptor, .admin, request: MetadataRPC.CreateApiKey.Input.self) {
            RequestTargets(collections: $0.collections.isEmpty ? nil : $0.collections, ids: [$0.name] + $0.collections)
        }
        policy.add(MetadataRPC.ListApiKeys.descriptor, .admin)
        policy.add(MetadataRPC.RevokeApiKey.descriptor, .admin, request: MetadataRPC.RevokeApiKey.Input.self) {
            .present($0.id)
        }
        // No targets: the presented secret must never become an id in an audit record.
        policy.add(MetadataRPC.AuthenticateApiKey.descriptor, .admin)
        policy.add(MetadataRPC.RecordAuditEvents.descriptor, .admin)
        policy.add(MetadataRPC.ListAuditEvents.descriptor, .admin, request: MetadataRPC.ListAuditEvents.Input.self) {
            .present($0.keyID)
        }

        // MARK: - trove.v1.ObjectStorage

        policy.add(ObjectStorageRPC.CreateBucket.descriptor, .admin, request: ObjectStorageRPC.CreateBucket.Input.self) {
            .present($0.bucket)
        }
        policy.add(ObjectStorageRPC.HeadBucket.descriptor, .read, request: ObjectStorageRPC.HeadBucket.Input.self) {
            .present($0.bucket)
        }
        policy.add(ObjectStorageRPC.ListBuckets.descriptor, .read)
        policy.add(ObjectStorageRPC.DeleteBucket.descriptor, .admin, request: ObjectStorageRPC.DeleteBucket.Input.self) {
            .present($0.bucket)
        }
        policy.add(ObjectStorageRPC.PutObject.descriptor, .write, request: ObjectStorageRPC.PutObject.Input.self) {
            guard case .header(let header)? = $0.part else { return .none }
            return .ids([header.bucket + "/" + header.key])
        }
        policy.add(ObjectStorageRPC.GetObject.descriptor, .read, request: ObjectStorageRPC.GetObject.Input.self) {
            .ids([$0.bucket + "/" + $0.key])
        }
        policy.add(ObjectStorageRPC.HeadObject.descriptor, .read, request: ObjectStorageRPC.HeadObject.Input.self) {
            .ids([$0.bucket + "/" + $0.key])
        }
        policy.add(ObjectStorageRPC.DeleteObject.descriptor, .write, request: ObjectStorageRPC.DeleteObject.Input.self) {
            .ids([$0.bucket + "/" + $0.key])
        }
        policy.add(ObjectStorageRPC.ListObjects.descriptor, .read, request: ObjectStorageRPC.ListObjects.Input.self) {
            .present($0.bucket)
        }
        policy.add(ObjectStorageRPC.CopyObject.descriptor, .write, request: ObjectStorageRPC.CopyObject.Input.self) {
            .ids([$0.sourceBucket + "/" + $0.sourceKey, $0.destinationBucket + "/" + $0.destinationKey])
        }
        // Write even for GET: a presigned PUT lets anyone holding the URL write the object.
        policy.add(ObjectStorageRPC.PresignObject.descriptor, .write, request: ObjectStorageRPC.PresignObject.Input.self) {
            .ids([$0.bucket + "/" + $0.key])
        }
        policy.add(ObjectStorageRPC.PutBucketLifecycle.descriptor, .admin, request: ObjectStorageRPC.PutBucketLifecycle.Input.self) {
            .present($0.bucket)
        }
        // Admin though a get: lifecycle rules are admin, the safer of the two readings.
        policy.add(ObjectStorageRPC.GetBucketLifecycle.descriptor, .admin, request: ObjectStorageRPC.GetBucketLifecycle.Input.self) {
            .present($0.bucket)
        }

        // MARK: - trove.v1.Embedding

        policy.add(EmbeddingRPC.Embed.descriptor, .read, request: EmbeddingRPC.Embed.Input.self) {
            .present($0.model)
        }
        policy.add(EmbeddingRPC.EmbedStream.descriptor, .read, request: EmbeddingRPC.EmbedStream.Input.self) {
            .present($0.model)
        }
        policy.add(EmbeddingRPC.ListModels.descriptor, .read)
        policy.add(EmbeddingRPC.Tokenize.descriptor, .read, request: EmbeddingRPC.Tokenize.Input.self) {
            .present($0.model)
        }

        // MARK: - trove.v1.VectorSearch

        policy.add(VectorSearchRPC.CreateCollection.descriptor, .admin, request: VectorSearchRPC.CreateCollection.Input.self) {
            .collection(ifNamed: $0.name)
        }
        policy.add(VectorSearchRPC.ListCollections.descriptor, .read)
        policy.add(VectorSearchRPC.DescribeCollection.descriptor, .read, request: VectorSearchRPC.DescribeCollection.Input.self) {
            .collection(ifNamed: $0.name)
        }
        policy.add(VectorSearchRPC.DropCollection.descriptor, .admin, request: VectorSearchRPC.DropCollection.Input.self) {
            .collection(ifNamed: $0.name)
        }
        policy.add(VectorSearchRPC.Upsert.descriptor, .write, request: VectorSearchRPC.Upsert.Input.self) { request in
            .collection(ifNamed: request.collection, ids: request.vectors.prefix(16).map { $0.id })
        }
        policy.add(VectorSearchRPC.UpsertStream.descriptor, .write, request: VectorSearchRPC.UpsertStream.Input.self) { request in
            .collection(ifNamed: request.collection, ids: request.vectors.prefix(16).map { $0.id })
        }
        policy.add(VectorSearchRPC.Get.descriptor, .read, request: VectorSearchRPC.Get.Input.self) {
            .collection(ifNamed: $0.collection, ids: Array($0.ids.prefix(16)))
        }
        policy.add(VectorSearchRPC.Delete.descriptor, .write, request: VectorSearchRPC.Delete.Input.self) {
            .collection(ifNamed: $0.collection, ids: Array($0.ids.prefix(16)))
        }
        policy.add(VectorSearchRPC.Search.descriptor, .read, request: VectorSearchRPC.Search.Input.self) {
            .collection(ifNamed: $0.collection)
        }
        policy.add(VectorSearchRPC.SearchBatch.descriptor, .read, request: VectorSearchRPC.SearchBatch.Input.self) { request in
            let names = Set(request.searches.map { $0.collection }).sorted()
            guard !names.isEmpty, !names.contains("") else { return .none }
            return RequestTargets(collections: names, ids: names)
        }
        policy.add(VectorSearchRPC.Compact.descriptor, .write, request: VectorSearchRPC.Compact.Input.self) {
            .collection(ifNamed: $0.collection)
        }
        policy.add(VectorSearchRPC.Snapshot.descriptor, .write, request: VectorSearchRPC.Snapshot.Input.self) {
            .collection(ifNamed: $0.collection)
        }

        // MARK: - trove.v1.Ingestion

        policy.add(IngestionRPC.CreateCollection.descriptor, .admin, request: IngestionRPC.CreateCollection.Input.self) {
            .collection(ifNamed: $0.name)
        }
        policy.add(IngestionRPC.ListCollections.descriptor, .read)
        policy.add(IngestionRPC.DeleteCollection.descriptor, .admin, request: IngestionRPC.DeleteCollection.Input.self) {
            .collection(ifNamed: $0.name)
        }
        policy.add(IngestionRPC.IngestDocument.descriptor, .write, request: IngestionRPC.IngestDocument.Input.self) {
            guard case .header(let header)? = $0.part else { return .none }
            let reference = header.hasObjectReference ? header.objectReference.bucket + "/" + header.objectReference.key : ""
            return .collection(ifNamed: header.collection, ids: [header.filename, reference])
        }
        policy.add(IngestionRPC.GetDocumentStatus.descriptor, .read, request: IngestionRPC.GetDocumentStatus.Input.self) {
            .present($0.documentID)
        }
        policy.add(IngestionRPC.ListDocuments.descriptor, .read, request: IngestionRPC.ListDocuments.Input.self) {
            .collection(ifNamed: $0.collection)
        }
        policy.add(IngestionRPC.WatchIngestion.descriptor, .read, request: IngestionRPC.WatchIngestion.Input.self) {
            .collection(ifNamed: $0.collection, ids: Array($0.documentIds.prefix(16)))
        }
        policy.add(IngestionRPC.DeleteDocument.descriptor, .write, request: IngestionRPC.DeleteDocument.Input.self) {
            .present($0.documentID)
        }
        policy.add(IngestionRPC.ReprocessDocument.descriptor, .write, request: IngestionRPC.ReprocessDocument.Input.self) {
            .present($0.documentID)
        }
        policy.add(IngestionRPC.Search.descriptor, .read, request: IngestionRPC.Search.Input.self) {
            .collection(ifNamed: $0.collection)
        }
        policy.add(IngestionRPC.GetSystemStatus.descriptor, .read)

        // MARK: - grpc.health.v1.Health

        policy.add(HealthRPC.Check.descriptor, .open)
        policy.add(HealthRPC.Watch.descriptor, .open)

        // MARK: - grpc.reflection (any key may read the contracts, as it may call them)
        policy.add(Grpc_Reflection_V1_ServerReflection.Method.ServerReflectionInfo.descriptor, .read)
        policy.add(Grpc_Reflection_V1alpha_ServerReflection.Method.ServerReflectionInfo.descriptor, .read)

        // The services' own plumbing: every key lookup and audit batch would otherwise be audited.
        policy.exemptFromAudit(MetadataRPC.AuthenticateApiKey.descriptor)
        policy.exemptFromAudit(MetadataRPC.RecordAuditEvents.descriptor)
        return policy
    }()
}

extension RequestTargets {
    fileprivate static func collection(ifNamed collection: String, ids: [String] = []) -> RequestTargets {
        let ids = ids.filter { !$0.isEmpty }
        return collection.isEmpty ? .ids(ids) : .collection(collection, ids: ids)
    }

    fileprivate static func present(_ ids: String...) -> RequestTargets {
        .ids(ids.filter { !$0.isEmpty })
    }
}
