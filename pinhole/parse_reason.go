package pinhole

// Reason names what the kernel did with a line, segment or SYN, with the
// name of the counter it increments (the enum counter name in lower case
// without COUNTER_), so the reference and the kernel compare directly.
type Reason string

// Reasons the reference model reports, one per kernel counter it touches.
const (
	ReasonControlSegment   Reason = "control_segment"
	ReasonControlTruncated Reason = "control_truncated"
	ReasonLinePORT         Reason = "line_port"
	ReasonLineEPRT         Reason = "line_eprt"
	ReasonLine227          Reason = "line_227"
	ReasonLine229          Reason = "line_229"
	ReasonLinePASV         Reason = "line_pasv"
	ReasonLineEPSV         Reason = "line_epsv"
	ReasonLineAUTH         Reason = "line_auth"
	ReasonLine234          Reason = "line_234"
	ReasonLineOther        Reason = "line_other"
	ReasonLinePartial      Reason = "line_partial"
	ReasonOutOfOrder       Reason = "segment_out_of_order"
	ReasonTLSSession       Reason = "tls_session"
	ReasonTLSSegment       Reason = "tls_segment"
	ReasonCtrlOpened       Reason = "ctrl_opened"
	ReasonCtrlClosed       Reason = "ctrl_closed"

	ReasonActiveV4  Reason = "pinhole_active_v4"
	ReasonActiveV6  Reason = "pinhole_active_v6"
	ReasonPassiveV4 Reason = "pinhole_passive_v4"
	ReasonPassiveV6 Reason = "pinhole_passive_v6"
	ReasonRefreshed Reason = "pinhole_refreshed"
	ReasonReplaced  Reason = "pinhole_replaced"

	ReasonAddressMismatch Reason = "reject_address_mismatch"
	ReasonLowPort         Reason = "reject_low_port"
	ReasonRange           Reason = "reject_range"
	ReasonFamilyMismatch  Reason = "reject_family_mismatch"
	ReasonMalformed       Reason = "reject_malformed"
	ReasonNoCRLF          Reason = "reject_no_crlf"
	ReasonOverlong        Reason = "reject_overlong"
	ReasonMapFull         Reason = "reject_map_full"
	ReasonWrongDirection  Reason = "reject_wrong_direction"
	ReasonNoPending       Reason = "reject_no_pending"
	ReasonMultiline       Reason = "reject_multiline"
	ReasonRateLimit       Reason = "reject_rate_limit"
	ReasonWrongSide       Reason = "reject_wrong_side"

	ReasonSYNAllowedPinhole Reason = "syn_allowed_pinhole"
	ReasonSYNRetransmit     Reason = "syn_retransmit_grace"
	ReasonSYNNoPinhole      Reason = "syn_no_pinhole"
	ReasonSYNExpired        Reason = "syn_expired_pinhole"
	ReasonSYNConsumed       Reason = "syn_consumed_pinhole"
)

// Reasons lists every reason the reference model can report, for callers
// that compare all of them with the kernel's counters.
var Reasons = []Reason{
	ReasonControlSegment, ReasonControlTruncated,
	ReasonLinePORT, ReasonLineEPRT, ReasonLine227, ReasonLine229,
	ReasonLinePASV, ReasonLineEPSV, ReasonLineAUTH, ReasonLine234,
	ReasonLineOther, ReasonLinePartial, ReasonOutOfOrder,
	ReasonTLSSession, ReasonTLSSegment, ReasonCtrlOpened, ReasonCtrlClosed,
	ReasonActiveV4, ReasonActiveV6, ReasonPassiveV4, ReasonPassiveV6,
	ReasonRefreshed, ReasonReplaced,
	ReasonAddressMismatch, ReasonLowPort, ReasonRange, ReasonFamilyMismatch,
	ReasonMalformed, ReasonNoCRLF, ReasonOverlong, ReasonMapFull,
	ReasonWrongDirection, ReasonNoPending, ReasonMultiline, ReasonRateLimit,
	ReasonWrongSide,
	ReasonSYNAllowedPinhole, ReasonSYNRetransmit, ReasonSYNNoPinhole,
	ReasonSYNExpired, ReasonSYNConsumed,
}

// IsReject reports whether the reason is a rejected announcement.
func (r Reason) IsReject() bool { return len(r) > 7 && r[:7] == "reject_" }
