// Package flowlog models AWS VPC (and Transit Gateway) Flow Log records and parses
// their space-separated text form without allocating.
//
// A Format lists the columns of a flow log (the default version 2 format, a custom
// "${field} ..." format, or the header line of an S3 text file). A Parser turns one
// line into a Record whose typed fields (addresses, ports, counters, action...) are
// decoded and whose other columns stay views into the line.
package flowlog

import "strings"

// Field identifies one flow-log field by its AWS name. FieldUnknown stands for a
// column whose name this package does not know; such columns are carried as text.
type Field uint8

// Known fields, in the order of the AWS documentation (versions 2 to 8), followed by
// the newer fields listed by third-party parsers (versions 9 to 11) and the Transit
// Gateway fields (version 6).
const (
	FieldUnknown Field = iota
	FieldVersion
	FieldAccountID
	FieldInterfaceID
	FieldSrcAddr
	FieldDstAddr
	FieldSrcPort
	FieldDstPort
	FieldProtocol
	FieldPackets
	FieldBytes
	FieldStart
	FieldEnd
	FieldAction
	FieldLogStatus
	FieldVPCID
	FieldSubnetID
	FieldInstanceID
	FieldTCPFlags
	FieldType
	FieldPktSrcAddr
	FieldPktDstAddr
	FieldRegion
	FieldAZID
	FieldSublocationType
	FieldSublocationID
	FieldPktSrcAWSService
	FieldPktDstAWSService
	FieldFlowDirection
	FieldTrafficPath
	FieldECSClusterARN
	FieldECSClusterName
	FieldECSContainerInstanceARN
	FieldECSContainerInstanceID
	FieldECSContainerID
	FieldECSSecondContainerID
	FieldECSServiceName
	FieldECSTaskDefinitionARN
	FieldECSTaskARN
	FieldECSTaskID
	FieldRejectReason
	FieldResourceID
	FieldEncryptionStatus
	FieldInstanceTag
	FieldInstanceTag2
	FieldInterfaceTag
	FieldInterfaceTag2
	FieldASGTag
	FieldASGTag2
	FieldInterfaceType
	FieldNextHopInterfaceID
	FieldNextHopSubnetID
	FieldNextHopAZID
	FieldNextHopVPCID
	FieldNextHopInterfaceType
	FieldResourceType
	FieldTGWID
	FieldTGWAttachmentID
	FieldTGWSrcVPCAccountID
	FieldTGWDstVPCAccountID
	FieldTGWSrcVPCID
	FieldTGWDstVPCID
	FieldTGWSrcSubnetID
	FieldTGWDstSubnetID
	FieldTGWSrcENI
	FieldTGWDstENI
	FieldTGWSrcAZID
	FieldTGWDstAZID
	FieldTGWPairAttachmentID
	FieldPacketsLostNoRoute
	FieldPacketsLostBlackhole
	FieldPacketsLostMTUExceeded
	FieldPacketsLostTTLExpired

	numFields // number of Field values, FieldUnknown included
)

// Kind says how a field's text is interpreted.
type Kind uint8

// Field kinds.
const (
	KindString Kind = iota // free text, rendered as a JSON string
	KindInt                // unsigned decimal integer, rendered as a JSON number
	KindAddr               // IPv4 or IPv6 address
)

// String returns "string", "int" or "addr".
func (k Kind) String() string {
	switch k {
	case KindInt:
		return "int"
	case KindAddr:
		return "addr"
	default:
		return "string"
	}
}

type fieldInfo struct {
	name    string
	kind    Kind
	version uint8
}

// fieldTable describes every known field; it is never modified.
var fieldTable = [numFields]fieldInfo{
	FieldUnknown:                 {"", KindString, 0},
	FieldVersion:                 {"version", KindInt, 2},
	FieldAccountID:               {"account-id", KindString, 2},
	FieldInterfaceID:             {"interface-id", KindString, 2},
	FieldSrcAddr:                 {"srcaddr", KindAddr, 2},
	FieldDstAddr:                 {"dstaddr", KindAddr, 2},
	FieldSrcPort:                 {"srcport", KindInt, 2},
	FieldDstPort:                 {"dstport", KindInt, 2},
	FieldProtocol:                {"protocol", KindInt, 2},
	FieldPackets:                 {"packets", KindInt, 2},
	FieldBytes:                   {"bytes", KindInt, 2},
	FieldStart:                   {"start", KindInt, 2},
	FieldEnd:                     {"end", KindInt, 2},
	FieldAction:                  {"action", KindString, 2},
	FieldLogStatus:               {"log-status", KindString, 2},
	FieldVPCID:                   {"vpc-id", KindString, 3},
	FieldSubnetID:                {"subnet-id", KindString, 3},
	FieldInstanceID:              {"instance-id", KindString, 3},
	FieldTCPFlags:                {"tcp-flags", KindInt, 3},
	FieldType:                    {"type", KindString, 3},
	FieldPktSrcAddr:              {"pkt-srcaddr", KindAddr, 3},
	FieldPktDstAddr:              {"pkt-dstaddr", KindAddr, 3},
	FieldRegion:                  {"region", KindString, 4},
	FieldAZID:                    {"az-id", KindString, 4},
	FieldSublocationType:         {"sublocation-type", KindString, 4},
	FieldSublocationID:           {"sublocation-id", KindString, 4},
	FieldPktSrcAWSService:        {"pkt-src-aws-service", KindString, 5},
	FieldPktDstAWSService:        {"pkt-dst-aws-service", KindString, 5},
	FieldFlowDirection:           {"flow-direction", KindString, 5},
	FieldTrafficPath:             {"traffic-path", KindInt, 5},
	FieldECSClusterARN:           {"ecs-cluster-arn", KindString, 7},
	FieldECSClusterName:          {"ecs-cluster-name", KindString, 7},
	FieldECSContainerInstanceARN: {"ecs-container-instance-arn", KindString, 7},
	FieldECSContainerInstanceID:  {"ecs-container-instance-id", KindString, 7},
	FieldECSContainerID:          {"ecs-container-id", KindString, 7},
	FieldECSSecondContainerID:    {"ecs-second-container-id", KindString, 7},
	FieldECSServiceName:          {"ecs-service-name", KindString, 7},
	FieldECSTaskDefinitionARN:    {"ecs-task-definition-arn", KindString, 7},
	FieldECSTaskARN:              {"ecs-task-arn", KindString, 7},
	FieldECSTaskID:               {"ecs-task-id", KindString, 7},
	FieldRejectReason:            {"reject-reason", KindString, 8},
	FieldResourceID:              {"resource-id", KindString, 9},
	FieldEncryptionStatus:        {"encryption-status", KindInt, 10},
	FieldInstanceTag:             {"instance-tag", KindString, 11},
	FieldInstanceTag2:            {"instance-tag-2", KindString, 11},
	FieldInterfaceTag:            {"interface-tag", KindString, 11},
	FieldInterfaceTag2:           {"interface-tag-2", KindString, 11},
	FieldASGTag:                  {"asg-tag", KindString, 11},
	FieldASGTag2:                 {"asg-tag-2", KindString, 11},
	FieldInterfaceType:           {"interface-type", KindString, 11},
	FieldNextHopInterfaceID:      {"next-hop-interface-id", KindString, 11},
	FieldNextHopSubnetID:         {"next-hop-subnet-id", KindString, 11},
	FieldNextHopAZID:             {"next-hop-az-id", KindString, 11},
	FieldNextHopVPCID:            {"next-hop-vpc-id", KindString, 11},
	FieldNextHopInterfaceType:    {"next-hop-interface-type", KindString, 11},
	FieldResourceType:            {"resource-type", KindString, 6},
	FieldTGWID:                   {"tgw-id", KindString, 6},
	FieldTGWAttachmentID:         {"tgw-attachment-id", KindString, 6},
	FieldTGWSrcVPCAccountID:      {"tgw-src-vpc-account-id", KindString, 6},
	FieldTGWDstVPCAccountID:      {"tgw-dst-vpc-account-id", KindString, 6},
	FieldTGWSrcVPCID:             {"tgw-src-vpc-id", KindString, 6},
	FieldTGWDstVPCID:             {"tgw-dst-vpc-id", KindString, 6},
	FieldTGWSrcSubnetID:          {"tgw-src-subnet-id", KindString, 6},
	FieldTGWDstSubnetID:          {"tgw-dst-subnet-id", KindString, 6},
	FieldTGWSrcENI:               {"tgw-src-eni", KindString, 6},
	FieldTGWDstENI:               {"tgw-dst-eni", KindString, 6},
	FieldTGWSrcAZID:              {"tgw-src-az-id", KindString, 6},
	FieldTGWDstAZID:              {"tgw-dst-az-id", KindString, 6},
	FieldTGWPairAttachmentID:     {"tgw-pair-attachment-id", KindString, 6},
	FieldPacketsLostNoRoute:      {"packets-lost-no-route", KindInt, 6},
	FieldPacketsLostBlackhole:    {"packets-lost-blackhole", KindInt, 6},
	FieldPacketsLostMTUExceeded:  {"packets-lost-mtu-exceeded", KindInt, 6},
	FieldPacketsLostTTLExpired:   {"packets-lost-ttl-expired", KindInt, 6},
}

// fieldsByName maps AWS hyphenated names to fields; built once, never modified.
var fieldsByName = func() map[string]Field {
	m := make(map[string]Field, numFields)
	for f := Field(1); f < numFields; f++ {
		m[fieldTable[f].name] = f
	}
	return m
}()

// Fields returns every known field (FieldUnknown excluded), in declaration order.
func Fields() []Field {
	out := make([]Field, 0, numFields-1)
	for f := Field(1); f < numFields; f++ {
		out = append(out, f)
	}
	return out
}

// Name returns the AWS field name with hyphens (e.g. "pkt-srcaddr"), or "" for
// FieldUnknown and out-of-range values.
func (f Field) Name() string {
	if f >= numFields {
		return ""
	}
	return fieldTable[f].name
}

// String returns Name, or "unknown" for FieldUnknown.
func (f Field) String() string {
	if n := f.Name(); n != "" {
		return n
	}
	return "unknown"
}

// Kind returns how the field's text is interpreted (KindString for FieldUnknown).
func (f Field) Kind() Kind {
	if f >= numFields {
		return KindString
	}
	return fieldTable[f].kind
}

// Version returns the flow-log version that introduced the field (0 for FieldUnknown).
func (f Field) Version() int {
	if f >= numFields {
		return 0
	}
	return int(fieldTable[f].version)
}

// FieldByName looks a field up by its AWS name ("pkt-srcaddr") or by its
// Parquet/Athena spelling with underscores ("pkt_srcaddr"). The lookup is
// case-insensitive.
func FieldByName(name string) (Field, bool) {
	if f, ok := fieldsByName[name]; ok {
		return f, true
	}
	norm := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	f, ok := fieldsByName[norm]
	return f, ok
}
