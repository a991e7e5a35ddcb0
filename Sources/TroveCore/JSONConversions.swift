import Foundation
import GRPCCore
import JSONFilter
import SwiftProtobuf
import TroveContracts

// Mappings between the shared protobuf messages (google.protobuf.Value/Struct, trove.v1.Filter)
// and the JSON model every service uses, with INVALID_ARGUMENT naming the request field.

extension RPCError {
    /// INVALID_ARGUMENT whose message starts with the request field it is about.
    package static func invalidField(_ field: String, _ message: String) -> RPCError {
        RPCError(code: .invalidArgument, message: "\(field): \(message)")
    }
}

// MARK: JSON

extension JSONValue {
    /// A value with no kind set reads as null, as protobuf's JSON mapping does.
    package init(_ value: Google_Protobuf_Value) {
        switch value.kind {
        case .nullValue, nil: self = .null
        case .numberValue(let number): self = .number(number)
        case .stringValue(let text): self = .string(text)
        case .boolValue(let flag): self = .bool(flag)
        case .structValue(let object): self = .object(JSONObject(object))
        case .listValue(let list): self = .array(list.values.map(JSONValue.init))
        }
    }
}

extension Dictionary where Key == String, Value == JSONValue {
    package init(_ proto: Google_Protobuf_Struct) {
        self = proto.fields.mapValues(JSONValue.init)
    }
}

extension Google_Protobuf_Value {
    package init(_ value: JSONValue) {
        self.init()
        switch value {
        case .null: self.kind = .nullValue(.nullValue)
        case .bool(let flag): self.kind = .boolValue(flag)
        case .number(let number): self.kind = .numberValue(number)
        case .string(let text): self.kind = .stringValue(text)
        case .array(let values): self.kind = .listValue(.with { $0.values = values.map(Google_Protobuf_Value.init) })
        case .object(let members): self.kind = .structValue(Google_Protobuf_Struct(members))
        }
    }
}

extension Google_Protobuf_Struct {
    package init(_ object: JSONObject) {
        self.init()
        self.fields = object.mapValues(Google_Protobuf_Value.init)
    }
}

// MARK: Filters

extension MetadataFilter {
    /// The filter a request gives, or nil when it gives none (an unset field or an empty message).
    package static func from(_ proto: Trove_V1_Filter?, field: String = "filter") throws -> MetadataFilter? {
        guard let proto, proto.expression != nil else { return nil }
        return try MetadataFilter(proto, field: field)
    }

    package init(_ proto: Trove_V1_Filter, field: String) throws {
        switch proto.expression {
        case nil:
            throw RPCError.invalidField(field, "a nested filter has no condition, all_of, any_of or negate")
        case .condition(let condition):
            self = try MetadataFilter(condition, field: field)
        case .allOf(let list):
            self = .allOf(try list.filters.map { try MetadataFilter($0, field: field) })
        case .anyOf(let list):
            self = .anyOf(try list.filters.map { try MetadataFilter($0, field: field) })
        case .negate(let filter):
            self = .not(try MetadataFilter(filter, field: field))
        }
    }

    private init(_ condition: Trove_V1_FieldCondition, field: String) throws {
        let name = condition.field
        switch condition.test {
        case nil:
            throw RPCError.invalidField(field, "the condition on '\(name)' has no test (equals, in, number_range, time_range or exists)")
        case .equals(let value):
            guard value.kind != nil else {
                throw RPCError.invalidField(field, "the condition on '\(name)' has an empty equals value")
            }
            self = .equals(field: name, value: JSONValue(value))
        case .in(let list):
            self = .isIn(field: name, values: list.values.map(JSONValue.init))
        case .numberRange(let range):
            self = .numberRange(
                field: name,
                NumberRange(
                    greaterThan: range.hasGt ? range.gt : nil,
                    greaterThanOrEqual: range.hasGte ? range.gte : nil,
                    lessThan: range.hasLt ? range.lt : nil,
                    lessThanOrEqual: range.hasLte ? range.lte : nil
                )
            )
        case .timeRange(let range):
            self = .timeRange(
                field: name,
                TimeRange(
                    after: range.hasGt ? try range.gt.validDate(field: field) : nil,
                    atOrAfter: range.hasGte ? try range.gte.validDate(field: field) : nil,
                    before: range.hasLt ? try range.lt.validDate(field: field) : nil,
                    atOrBefore: range.hasLte ? try range.lte.validDate(field: field) : nil
                )
            )
        case .exists(let present):
            self = .exists(field: name, present)
        }
    }
}

// MARK: Timestamps

extension Google_Protobuf_Timestamp {
    /// The earliest and latest instants a Timestamp may hold: 0001-01-01T00:00:00Z to
    /// 9999-12-31T23:59:59.999999999Z, as protobuf defines it.
    static let validSeconds: ClosedRange<Int64> = -62_135_596_800...253_402_300_799

    /// The instant, or INVALID_ARGUMENT naming `field` when the Timestamp is outside protobuf's
    /// range (years 1 to 9999) or its nanos outside 0..<1e9: SwiftProtobuf's `date` would trap on
    /// some such values, and dates beyond it cannot be stored.
    package func validDate(field: String) throws -> Date {
        guard Self.validSeconds.contains(self.seconds), (0..<1_000_000_000).contains(self.nanos) else {
            throw RPCError.invalidField(
                field,
                "\(self.seconds) s and \(self.nanos) ns is not a valid timestamp (years 1 to 9999, nanos 0 to 999,999,999)"
            )
        }
        return self.date
    }
}
