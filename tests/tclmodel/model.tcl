# A model of the Vivado and Vitis HLS Tcl commands nn_accel's scripts use.
# It runs the scripts in plain tclsh, records the design they build, and fails
# (Tcl error) on what Vivado/Vitis HLS would reject or what would give a broken
# design: unknown commands and options, pins and interfaces that do not exist
# (for the IP's configuration), unknown IP VLNVs, CONFIG properties an IP does not
# have, bad property values, clashing or out-of-aperture addresses, unconnected
# clocks/resets/interfaces at validate_bd_design, an HLS export whose VLNV differs
# from the IP description. It is a test fixture, not a Vivado clone: it knows only
# the IPs in ipdefs.yml, and what it cannot know (timing, IP internals, synthesis)
# it does not check.
#
# Driver: nnm::load <ipdefs dict> <board parts>, nnm::hls_ip <vlnv> <def>, then
# nnm::run_hls <script> / nnm::run_vivado <script> (after nnm::implicit_project) or
# nnm::vivado_session <xpr> <scripts>, then nnm::dump. Project mode (projects, runs, the
# hardware handoff) is in project.tcl, sourced at the end.

namespace eval nnm {
    variable defs {}          ;# vlnv base -> definition
    variable versions {}      ;# full vlnv -> vlnv base, what get_ipdefs knows
    variable hls_defs {}      ;# accelerator vlnv -> definition (from nnaccel.json)
    variable board_parts {}   ;# installed board parts (vendor:board:part:version)
    variable project {}       ;# project properties
    variable fileset_top ""
    variable files {}
    variable bd ""
    variable cells {}         ;# name -> {base vlnv config}
    variable nets {}          ;# net id -> list of pins
    variable pin_net {}       ;# pin -> net id
    variable intf_peer {}     ;# intf pin -> peer intf pin
    variable ext_ports {}     ;# external intf ports made by board automation
    variable addrs {}         ;# list of {space segment offset range}
    variable validated 0
    variable saved 0
    variable wrapper ""
    variable hls {}           ;# HLS session state
    variable exports {}       ;# list of {dir vlnv}
    variable log {}
}

proc nnm::fail {msg} {
    return -code error -errorcode NNMODEL "tclmodel: $msg"
}

proc nnm::record {args} {
    variable log
    lappend log $args
}

# Parse Vivado-style options. spec: dict option -> 1 (takes a value) or 0 (flag).
# Returns {opts positional}.
proc nnm::opts {cmd spec argv} {
    set opts {}
    set pos {}
    for {set i 0} {$i < [llength $argv]} {incr i} {
        set a [lindex $argv $i]
        if {[string match -* $a] && ![string is double -strict $a]} {
            if {![dict exists $spec $a]} {
                nnm::fail "$cmd: unknown option $a (known: [lsort [dict keys $spec]])"
            }
            if {[dict get $spec $a]} {
                incr i
                if {$i >= [llength $argv]} {
                    nnm::fail "$cmd: option $a needs a value"
                }
                dict set opts $a [lindex $argv $i]
            } else {
                dict set opts $a 1
            }
        } else {
            lappend pos $a
        }
    }
    return [list $opts $pos]
}

proc nnm::load {defs board_parts} {
    variable versions
    set nnm::defs $defs
    set nnm::board_parts $board_parts
    dict for {base d} $defs {
        foreach v [dict get $d versions] {
            dict set versions "$base:$v" $base
        }
    }
}

# An accelerator exported by HLS: it enters the catalog once a repository holding it is
# added and update_ip_catalog runs, as in Vivado.
proc nnm::hls_ip {vlnv def} {
    dict set nnm::hls_defs $vlnv $def
}

# ---------------------------------------------------------------- IP definitions

proc nnm::def_of {cell} {
    variable cells
    variable defs
    variable hls_defs
    set vlnv [dict get $cells $cell vlnv]
    if {[dict exists $hls_defs $vlnv]} {
        return [dict get $hls_defs $vlnv]
    }
    return [dict get $defs [dict get $cells $cell base]]
}

proc nnm::cfg {cell prop} {
    return [dict get $nnm::cells $cell config $prop]
}

proc nnm::holds {cell when} {
    dict for {k v} $when {
        if {[nnm::cfg $cell $k] != $v} {
            return 0
        }
    }
    return 1
}

# Expand a pins/intfs table for a cell's current configuration: name -> attributes.
proc nnm::expand {cell table} {
    set out {}
    dict for {name attrs} $table {
        if {[dict exists $attrs when] && ![nnm::holds $cell [dict get $attrs when]]} {
            continue
        }
        if {[dict exists $attrs repeat]} {
            set n [nnm::cfg $cell [dict get $attrs repeat]]
            for {set i 0} {$i < $n} {incr i} {
                dict set out [format $name $i] $attrs
            }
        } else {
            dict set out $name $attrs
        }
    }
    return $out
}

proc nnm::pins_of {cell} {
    set d [nnm::def_of $cell]
    return [nnm::expand $cell [expr {[dict exists $d pins] ? [dict get $d pins] : {}}]]
}

proc nnm::intfs_of {cell} {
    set d [nnm::def_of $cell]
    return [nnm::expand $cell [expr {[dict exists $d intfs] ? [dict get $d intfs] : {}}]]
}

proc nnm::width {cell attrs} {
    if {![dict exists $attrs width]} {
        return 1
    }
    set w [dict get $attrs width]
    if {[string is integer -strict $w]} {
        return $w
    }
    return [nnm::cfg $cell $w]
}

# ---------------------------------------------------------------- object lookup

proc nnm::split_path {path} {
    set path [string trimleft $path /]
    set i [string first / $path]
    if {$i < 0} {
        return [list $path ""]
    }
    return [list [string range $path 0 [expr {$i - 1}]] [string range $path [expr {$i + 1}] end]]
}

proc nnm::need_bd {cmd} {
    if {$nnm::bd eq ""} {
        nnm::fail "$cmd: no block design is open (create_bd_design first)"
    }
}

proc nnm::lookup {cmd kind quiet patterns} {
    nnm::need_bd $cmd
    set out {}
    foreach pat $patterns {
        lassign [nnm::split_path $pat] cname rest
        set found {}
        if {$kind eq "cell"} {
            if {$rest eq "" && [dict exists $nnm::cells $cname]} {
                lappend found /$cname
            }
        } elseif {$kind in {port intf_port}} {
            if {$rest eq "" && $kind eq "intf_port" && $cname in $nnm::ext_ports} {
                lappend found /$cname
            }
        } elseif {[dict exists $nnm::cells $cname]} {
            switch $kind {
                pin {
                    if {[dict exists [nnm::pins_of $cname] $rest]} {
                        lappend found /$cname/$rest
                    }
                }
                intf_pin {
                    if {[dict exists [nnm::intfs_of $cname] $rest]} {
                        lappend found /$cname/$rest
                    }
                }
                addr_space {
                    dict for {iname a} [nnm::intfs_of $cname] {
                        if {[dict exists $a space] && [dict get $a space] eq $rest} {
                            lappend found /$cname/$rest
                            break
                        }
                    }
                }
                addr_seg {
                    if {[nnm::segment $cname $rest] ne ""} {
                        lappend found /$cname/$rest
                    }
                }
            }
        }
        if {[llength $found] == 0 && !$quiet} {
            set what [expr {[dict exists $nnm::cells $cname] || $kind eq "cell" ? "" : " (no cell $cname)"}]
            nnm::fail "$cmd: no $kind matches $pat$what"
        }
        lappend out {*}$found
    }
    return $out
}

# A slave address segment of a cell: {intf base size}, or "" if it has none of that name.
# Fixed segments (PS DDR) come from the definition; every slave interface with
# `segment: Reg` has a relocatable register segment <intf>/Reg.
proc nnm::segment {cell rest} {
    set d [nnm::def_of $cell]
    if {[dict exists $d segments $rest]} {
        set s [dict get $d segments $rest]
        if {[dict exists [nnm::intfs_of $cell] [dict get $s intf]]} {
            return [list [dict get $s intf] [dict get $s base] [dict get $s size]]
        }
        return ""
    }
    dict for {iname a} [nnm::intfs_of $cell] {
        if {[dict exists $a segment] && "$iname/[dict get $a segment]" eq $rest} {
            return [list $iname "" ""]
        }
    }
    return ""
}

# ---------------------------------------------------------------- Vivado commands

namespace eval nnm::viv {}

proc nnm::viv::get_board_parts {args} {
    lassign [nnm::opts get_board_parts {-quiet 0 -latest_file_version 0 -filter 1} $args] o pos
    set out {}
    foreach bp $nnm::board_parts {
        if {[string match [lindex $pos 0] $bp]} {
            lappend out $bp
        }
    }
    return $out
}

proc nnm::viv::get_ipdefs {args} {
    lassign [nnm::opts get_ipdefs {-quiet 0 -all 0 -filter 1} $args] o pos
    set out {}
    foreach vlnv [dict keys $nnm::versions] {
        if {[string match [lindex $pos 0] $vlnv]} {
            lappend out $vlnv
        }
    }
    return $out
}

proc nnm::viv::update_ip_catalog {args} {
    nnm::opts update_ip_catalog {-rebuild 0 -quiet 0} $args
    set repos [expr {[dict exists $nnm::project ip_repo_paths] ? [dict get $nnm::project ip_repo_paths] : {}}]
    foreach e $nnm::exports {
        lassign $e dir vlnv
        foreach r $repos {
            set r [file normalize $r]
            if {$r eq $dir || [string first "$r/" $dir] == 0} {
                dict set nnm::versions $vlnv hls
            }
        }
    }
}

proc nnm::viv::create_bd_design {args} {
    lassign [nnm::opts create_bd_design {-dir 1 -quiet 0} $args] o pos
    nnm::need_project create_bd_design
    if {$nnm::bd ne ""} {
        nnm::fail "create_bd_design: a block design ($nnm::bd) is already open"
    }
    if {![dict exists $nnm::project part]} {
        nnm::fail "create_bd_design: the project has no part set"
    }
    set nnm::bd [lindex $pos 0]
    lappend nnm::files "$nnm::bd.bd"
    return $nnm::bd
}

proc nnm::viv::current_bd_design {args} {
    lassign [nnm::opts current_bd_design {-quiet 0} $args] o pos
    if {[llength $pos] && [lindex $pos 0] ne $nnm::bd} {
        nnm::fail "current_bd_design: no block design [lindex $pos 0]"
    }
    return $nnm::bd
}

proc nnm::viv::create_bd_cell {args} {
    lassign [nnm::opts create_bd_cell {-type 1 -vlnv 1 -quiet 0} $args] o pos
    nnm::need_bd create_bd_cell
    if {[dict get $o -type] ne "ip"} {
        nnm::fail "create_bd_cell: the model knows -type ip only"
    }
    set vlnv [dict get $o -vlnv]
    if {![dict exists $nnm::versions $vlnv]} {
        nnm::fail "create_bd_cell: IP $vlnv is not in the catalog"
    }
    set name [lindex $pos 0]
    if {[dict exists $nnm::cells $name]} {
        nnm::fail "create_bd_cell: cell $name exists already"
    }
    set base [dict get $nnm::versions $vlnv]
    dict set nnm::cells $name [dict create vlnv $vlnv base $base config {}]
    set d [nnm::def_of $name]
    set config [expr {[dict exists $d config] ? [dict get $d config] : {}}]
    dict set nnm::cells $name config $config
    nnm::record cell $name $vlnv
    return /$name
}

proc nnm::viv::apply_bd_automation {args} {
    lassign [nnm::opts apply_bd_automation {-rule 1 -config 1 -quiet 0} $args] o pos
    foreach c $pos {
        set cell [lindex [nnm::split_path $c] 0]
        set d [nnm::def_of $cell]
        if {![dict exists $d rule] || [dict get $d rule] ne [dict get $o -rule]} {
            nnm::fail "apply_bd_automation: rule [dict get $o -rule] does not apply to $cell"
        }
        dict for {k v} [dict get $o -config] {
            if {$k ni [dict get $d rule_options]} {
                nnm::fail "apply_bd_automation: option $k is not one of rule [dict get $o -rule]'s"
            }
        }
        set bp [expr {[dict exists $nnm::project board_part] ? [dict get $nnm::project board_part] : ""}]
        if {[dict exists $o -config] && [dict exists [dict get $o -config] apply_board_preset]} {
            if {$bp eq ""} {
                nnm::fail "apply_bd_automation: apply_board_preset without a board_part on the project"
            }
            dict for {k v} [dict get $d preset] {
                dict set nnm::cells $cell config $k $v
            }
        }
        if {[dict exists [dict get $o -config] make_external]} {
            foreach i [split [dict get [dict get $o -config] make_external] ,] {
                set i [string trim $i]
                set intfs [nnm::intfs_of $cell]
                if {![dict exists $intfs $i] || ![dict exists [dict get $intfs $i] external]} {
                    nnm::fail "apply_bd_automation: $cell has no external interface $i"
                }
                lappend nnm::ext_ports $i
                dict set nnm::intf_peer /$cell/$i /$i
                dict set nnm::intf_peer /$i /$cell/$i
            }
        }
        nnm::record automation $cell [dict get $o -rule]
    }
}

proc nnm::viv::set_property {args} {
    lassign [nnm::opts set_property {-dict 1 -quiet 0} $args] o pos
    if {[dict exists $o -dict]} {
        set pairs [dict get $o -dict]
        set objs [lindex $pos 0]
        if {[llength $pos] != 1} {
            nnm::fail "set_property -dict: expected one object list, got: $pos"
        }
    } else {
        if {[llength $pos] != 3} {
            nnm::fail "set_property: expected NAME VALUE OBJECTS, got: $pos"
        }
        lassign $pos name value objs
        set pairs [list $name $value]
    }
    if {[llength $pairs] % 2} {
        nnm::fail "set_property -dict: odd number of elements"
    }
    if {[llength $objs] == 0} {
        nnm::fail "set_property: no objects given"
    }
    foreach obj $objs {
        foreach {name value} $pairs {
            nnm::set_one $obj $name $value
        }
    }
}

proc nnm::set_one {obj name value} {
    if {[nnm::set_project_object $obj $name $value]} {
        return
    }
    lassign [nnm::split_path $obj] cell rest
    if {$rest ne "" || ![dict exists $nnm::cells $cell]} {
        nnm::fail "set_property $name: $obj is not a block-design cell"
    }
    if {![string match CONFIG.* $name]} {
        nnm::fail "set_property: $name on cell $cell is not a CONFIG property"
    }
    set p [string range $name 7 end]
    set d [nnm::def_of $cell]
    set vlnv [dict get $nnm::cells $cell vlnv]
    if {![dict exists $d config $p]} {
        nnm::fail "set_property: $vlnv ($cell) has no property CONFIG.$p"
    }
    if {[dict exists $d values $p] && $value ni [dict get $d values $p]} {
        nnm::fail "set_property: CONFIG.$p = $value is not allowed on $cell (allowed: [dict get $d values $p])"
    }
    dict set nnm::cells $cell config $p $value
    nnm::record prop $cell $p $value
}

proc nnm::viv::get_bd_cells {args} {
    lassign [nnm::opts get_bd_cells {-quiet 0 -hier 0} $args] o pos
    return [nnm::lookup get_bd_cells cell [dict exists $o -quiet] $pos]
}

proc nnm::viv::get_bd_pins {args} {
    lassign [nnm::opts get_bd_pins {-quiet 0} $args] o pos
    return [nnm::lookup get_bd_pins pin [dict exists $o -quiet] $pos]
}

proc nnm::viv::get_bd_intf_pins {args} {
    lassign [nnm::opts get_bd_intf_pins {-quiet 0} $args] o pos
    return [nnm::lookup get_bd_intf_pins intf_pin [dict exists $o -quiet] $pos]
}

proc nnm::viv::get_bd_intf_ports {args} {
    lassign [nnm::opts get_bd_intf_ports {-quiet 0} $args] o pos
    return [nnm::lookup get_bd_intf_ports intf_port [dict exists $o -quiet] $pos]
}

proc nnm::viv::get_bd_addr_spaces {args} {
    lassign [nnm::opts get_bd_addr_spaces {-quiet 0} $args] o pos
    return [nnm::lookup get_bd_addr_spaces addr_space [dict exists $o -quiet] $pos]
}

proc nnm::viv::get_bd_addr_segs {args} {
    lassign [nnm::opts get_bd_addr_segs {-quiet 0} $args] o pos
    return [nnm::lookup get_bd_addr_segs addr_seg [dict exists $o -quiet] $pos]
}

proc nnm::pin_attrs {pin} {
    lassign [nnm::split_path $pin] cell rest
    return [dict get [nnm::pins_of $cell] $rest]
}

proc nnm::viv::connect_bd_net {args} {
    lassign [nnm::opts connect_bd_net {-net 1 -quiet 0} $args] o pos
    set pins [concat {*}$pos]
    if {[llength $pins] < 2} {
        nnm::fail "connect_bd_net: needs at least two pins, got: $pins"
    }
    set net ""
    foreach p $pins {
        lassign [nnm::split_path $p] cell rest
        if {![dict exists $nnm::cells $cell] || ![dict exists [nnm::pins_of $cell] $rest]} {
            nnm::fail "connect_bd_net: $p is not a pin"
        }
        if {[dict exists $nnm::pin_net $p]} {
            if {$net ne "" && $net ne [dict get $nnm::pin_net $p]} {
                nnm::fail "connect_bd_net: $p is already on another net"
            }
            set net [dict get $nnm::pin_net $p]
        }
    }
    if {$net eq ""} {
        set net "net[dict size $nnm::nets]"
        dict set nnm::nets $net {}
    }
    set members [dict get $nnm::nets $net]
    foreach p $pins {
        if {$p ni $members} {
            lappend members $p
        }
        dict set nnm::pin_net $p $net
    }
    # One driver, and every pin of the same kind (a reset is no clock).
    set drivers {}
    set types {}
    foreach p $members {
        set a [nnm::pin_attrs $p]
        if {[dict get $a dir] eq "O"} {
            lappend drivers $p
        }
        lappend types [dict get $a type]
    }
    if {[llength $drivers] > 1} {
        nnm::fail "connect_bd_net: net drives from several outputs: $drivers"
    }
    if {[llength [lsort -unique $types]] > 1} {
        nnm::fail "connect_bd_net: pins of different types on one net: $members ($types)"
    }
    if {[llength $drivers] == 1} {
        lassign [nnm::split_path [lindex $drivers 0]] dc dp
        set dw [nnm::width $dc [nnm::pin_attrs [lindex $drivers 0]]]
        foreach p $members {
            lassign [nnm::split_path $p] c pn
            set w [nnm::width $c [nnm::pin_attrs $p]]
            if {$dw > $w} {
                nnm::fail "connect_bd_net: $dw-bit [lindex $drivers 0] drives $w-bit $p"
            }
        }
    }
    dict set nnm::nets $net $members
    nnm::record net $pins
}

proc nnm::intf_attrs {ip} {
    lassign [nnm::split_path $ip] cell rest
    return [dict get [nnm::intfs_of $cell] $rest]
}

proc nnm::viv::connect_bd_intf_net {args} {
    lassign [nnm::opts connect_bd_intf_net {-intf_net 1 -quiet 0} $args] o pos
    set ends [concat {*}$pos]
    if {[llength $ends] != 2} {
        nnm::fail "connect_bd_intf_net: needs exactly two interfaces, got: $ends"
    }
    foreach e $ends {
        lassign [nnm::split_path $e] cell rest
        if {![dict exists $nnm::cells $cell] || ![dict exists [nnm::intfs_of $cell] $rest]} {
            nnm::fail "connect_bd_intf_net: $e is not an interface pin"
        }
        if {[dict exists $nnm::intf_peer $e]} {
            nnm::fail "connect_bd_intf_net: $e is already connected to [dict get $nnm::intf_peer $e]"
        }
    }
    lassign $ends a b
    set aa [nnm::intf_attrs $a]
    set ba [nnm::intf_attrs $b]
    if {[dict get $aa bus] ne [dict get $ba bus]} {
        nnm::fail "connect_bd_intf_net: $a ([dict get $aa bus]) and $b ([dict get $ba bus]) are different buses"
    }
    if {[lsort [list [dict get $aa mode] [dict get $ba mode]]] ne {Master Slave}} {
        nnm::fail "connect_bd_intf_net: $a and $b are both [dict get $aa mode] interfaces"
    }
    if {[dict get $aa bus] eq "axis"} {
        set wa [nnm::width [lindex [nnm::split_path $a] 0] $aa]
        set wb [nnm::width [lindex [nnm::split_path $b] 0] $ba]
        if {$wa != $wb} {
            nnm::fail "connect_bd_intf_net: stream widths differ: $a $wa bits, $b $wb bits"
        }
    }
    dict set nnm::intf_peer $a $b
    dict set nnm::intf_peer $b $a
    nnm::record intf $a $b
}

# Slave segments a master interface reaches through interconnects: list of {cell intf aperture}.
proc nnm::reach {master_pin {aperture {}} {seen {}}} {
    if {![dict exists $nnm::intf_peer $master_pin] || $master_pin in $seen} {
        return {}
    }
    lappend seen $master_pin
    set peer [dict get $nnm::intf_peer $master_pin]
    lassign [nnm::split_path $peer] cell rest
    if {![dict exists $nnm::cells $cell]} {
        return {}
    }
    set d [nnm::def_of $cell]
    if {[dict exists $d interconnect]} {
        set out {}
        dict for {iname a} [nnm::intfs_of $cell] {
            if {[dict get $a mode] eq "Master"} {
                lappend out {*}[nnm::reach /$cell/$iname $aperture $seen]
            }
        }
        return $out
    }
    return [list [list $cell $rest $aperture]]
}

proc nnm::viv::assign_bd_address {args} {
    set spec {-target_address_space 1 -offset 1 -range 1 -quiet 0 -force 0}
    lassign [nnm::opts assign_bd_address $spec $args] o pos
    foreach k {-target_address_space -offset -range} {
        if {![dict exists $o $k]} {
            nnm::fail "assign_bd_address: the scripts must give $k (no automatic addresses)"
        }
    }
    set space [dict get $o -target_address_space]
    if {[llength $space] != 1} {
        nnm::fail "assign_bd_address: -target_address_space must be one address space, got '$space'"
    }
    set off [expr {[dict get $o -offset]}]
    set rng [expr {[dict get $o -range]}]
    if {$rng < 4096 || ($rng & ($rng - 1))} {
        nnm::fail "assign_bd_address: range [format 0x%X $rng] is not a power of two of at least 4K"
    }
    if {$off % $rng} {
        nnm::fail "assign_bd_address: offset [format 0x%X $off] is not aligned to its range [format 0x%X $rng]"
    }
    lassign [nnm::split_path $space] mcell mspace
    # The master interfaces behind this address space and what each can address.
    set masters {}
    dict for {iname a} [nnm::intfs_of $mcell] {
        if {[dict exists $a space] && [dict get $a space] eq $mspace} {
            set d [nnm::def_of $mcell]
            set ap [expr {[dict exists $d apertures $iname] ? [dict get $d apertures $iname] : {}}]
            lappend masters [list /$mcell/$iname $ap]
        }
    }
    foreach seg [concat {*}$pos] {
        lassign [nnm::split_path $seg] scell srest
        lassign [nnm::segment $scell $srest] sintf sbase ssize
        set route ""
        foreach m $masters {
            lassign $m mpin ap
            foreach r [nnm::reach $mpin] {
                if {[lindex $r 0] eq $scell && [lindex $r 1] eq $sintf} {
                    set route $ap
                    set via $mpin
                }
            }
        }
        if {![info exists via]} {
            nnm::fail "assign_bd_address: $seg is not reachable from address space $space"
        }
        if {[llength $route] == 2} {
            lassign $route abase asize
            if {$off < $abase || $off + $rng > $abase + $asize} {
                nnm::fail "assign_bd_address: $seg at [format 0x%X $off]+[format 0x%X $rng] is outside\
                    the aperture of $via ([format 0x%X $abase]+[format 0x%X $asize])"
            }
        }
        if {$sbase ne ""} {
            if {$off < $sbase || $off + $rng > $sbase + $ssize} {
                nnm::fail "assign_bd_address: $seg spans [format 0x%X $sbase]+[format 0x%X $ssize];\
                    [format 0x%X $off]+[format 0x%X $rng] does not fit"
            }
        }
        foreach a $nnm::addrs {
            lassign $a sp sg ao ar
            if {$sp eq $space && $sg eq $seg} {
                nnm::fail "assign_bd_address: $seg is assigned twice in $space"
            }
            if {$sp eq $space && $off < $ao + $ar && $ao < $off + $rng} {
                nnm::fail "assign_bd_address: $seg [format 0x%X $off]+[format 0x%X $rng] overlaps $sg\
                    [format 0x%X $ao]+[format 0x%X $ar] in $space"
            }
        }
        lappend nnm::addrs [list $space $seg $off $rng]
        nnm::record addr $space $seg $off $rng
        unset via
    }
}

proc nnm::viv::validate_bd_design {args} {
    nnm::opts validate_bd_design {-force 0 -quiet 0} $args
    nnm::need_bd validate_bd_design
    dict for {cell c} $nnm::cells {
        set pins [nnm::pins_of $cell]
        dict for {p a} $pins {
            if {[dict get $a dir] eq "I" && ![dict exists $a optional] && ![dict exists $nnm::pin_net /$cell/$p]} {
                nnm::fail "validate_bd_design: input pin /$cell/$p ([dict get $a type]) is not connected"
            }
            if {[dict exists $a required] && ![dict exists $nnm::pin_net /$cell/$p]} {
                nnm::fail "validate_bd_design: pin /$cell/$p is not connected"
            }
            if {[dict get $a type] eq "clk" && [dict get $a dir] eq "I"} {
                set net [dict get $nnm::pin_net /$cell/$p]
                set driven 0
                foreach m [dict get $nnm::nets $net] {
                    if {[dict get [nnm::pin_attrs $m] dir] eq "O"} {
                        set driven 1
                    }
                }
                if {!$driven} {
                    nnm::fail "validate_bd_design: clock /$cell/$p has no driver"
                }
            }
        }
        dict for {i a} [nnm::intfs_of $cell] {
            if {![dict exists $a optional] && ![dict exists $nnm::intf_peer /$cell/$i]} {
                nnm::fail "validate_bd_design: interface /$cell/$i is not connected"
            }
            # Both ends of an interface run on one clock net.
            if {[dict exists $nnm::intf_peer /$cell/$i] && [dict exists $a clock]} {
                set peer [dict get $nnm::intf_peer /$cell/$i]
                set pa [nnm::intf_attrs $peer]
                if {[dict exists $pa clock]} {
                    set pc /[lindex [nnm::split_path $peer] 0]/[dict get $pa clock]
                    set mc /$cell/[dict get $a clock]
                    if {[dict get $nnm::pin_net $pc] ne [dict get $nnm::pin_net $mc]} {
                        nnm::fail "validate_bd_design: /$cell/$i and $peer are on different clocks"
                    }
                }
            }
            # Every slave segment a connected master reaches must be mapped.
            if {[dict get $a mode] eq "Master" && [dict exists $a space] && [dict exists $nnm::intf_peer /$cell/$i]} {
                foreach r [nnm::reach /$cell/$i] {
                    lassign $r scell sintf
                    set mapped 0
                    foreach ad $nnm::addrs {
                        lassign $ad sp sg
                        lassign [nnm::split_path $sg] gc grest
                        if {$sp eq "/$cell/[dict get $a space]" && $gc eq $scell
                                && [lindex [nnm::segment $gc $grest] 0] eq $sintf} {
                            set mapped 1
                        }
                    }
                    if {!$mapped} {
                        nnm::fail "validate_bd_design: /$scell/$sintf is reached from /$cell/$i\
                            but not mapped in /$cell/[dict get $a space]"
                    }
                }
            }
        }
    }
    set nnm::validated 1
    nnm::record validated
}

proc nnm::viv::save_bd_design {args} {
    nnm::opts save_bd_design {-quiet 0} $args
    nnm::need_bd save_bd_design
    set nnm::saved 1
}

proc nnm::viv::make_wrapper {args} {
    lassign [nnm::opts make_wrapper {-files 1 -top 0 -import 0 -fileset 1 -inst_template 0} $args] o pos
    if {!$nnm::validated} {
        nnm::fail "make_wrapper: the block design was never validated"
    }
    if {[dict get $o -files] ne "$nnm::bd.bd"} {
        nnm::fail "make_wrapper: -files [dict get $o -files] is not the block design $nnm::bd.bd"
    }
    set nnm::wrapper ${nnm::bd}_wrapper
    if {[dict exists $o -import]} {
        lappend nnm::files ${nnm::bd}_wrapper.v
    }
    return ${nnm::bd}_wrapper.v
}

# ---------------------------------------------------------------- Vitis HLS commands

namespace eval nnm::hls {}

proc nnm::hls::open_project {args} {
    lassign [nnm::opts open_project {-reset 0} $args] o pos
    dict set nnm::hls project [file normalize [lindex $pos 0]]
    dict set nnm::hls files {}
}

proc nnm::hls_need {cmd key} {
    if {![dict exists $nnm::hls $key]} {
        nnm::fail "$cmd: no $key yet (open_project / open_solution / set_part / set_top first)"
    }
}

proc nnm::hls::set_top {args} {
    lassign [nnm::opts set_top {} $args] o pos
    nnm::hls_need set_top project
    dict set nnm::hls top [lindex $pos 0]
}

proc nnm::hls::add_files {args} {
    lassign [nnm::opts add_files {-cflags 1 -csimflags 1 -tb 0 -blackbox 0} $args] o pos
    nnm::hls_need add_files project
    foreach f $pos {
        if {![file exists $f]} {
            nnm::fail "add_files: $f does not exist (cwd [pwd])"
        }
        dict lappend nnm::hls files [file normalize $f]
    }
}

proc nnm::hls::open_solution {args} {
    lassign [nnm::opts open_solution {-reset 0 -flow_target 1} $args] o pos
    nnm::hls_need open_solution project
    if {[dict exists $o -flow_target] && [dict get $o -flow_target] ni {vivado vitis}} {
        nnm::fail "open_solution: -flow_target must be vivado or vitis"
    }
    dict set nnm::hls solution [lindex $pos 0]
}

proc nnm::hls::set_part {args} {
    lassign [nnm::opts set_part {-tool 1} $args] o pos
    nnm::hls_need set_part solution
    dict set nnm::hls part [lindex $pos 0]
}

proc nnm::hls::create_clock {args} {
    lassign [nnm::opts create_clock {-period 1 -name 1} $args] o pos
    nnm::hls_need create_clock solution
    if {![string is double -strict [dict get $o -period]] || [dict get $o -period] <= 0} {
        nnm::fail "create_clock: -period must be a positive number of ns"
    }
    dict set nnm::hls clock [dict get $o -period]
}

proc nnm::hls::set_clock_uncertainty {args} {
    nnm::opts set_clock_uncertainty {} $args
}

proc nnm::hls::config_compile {args} {
    nnm::opts config_compile {-name_max_length 1 -pipeline_loops 1 -unsafe_math_optimizations 0} $args
}

proc nnm::hls::config_interface {args} {
    nnm::opts config_interface {-m_axi_addr64 0 -m_axi_alignment_byte_size 1 -m_axi_max_widen_bitwidth 1 -default_slave_interface 1} $args
}

set nnm::export_spec {-format 1 -vendor 1 -library 1 -version 1 -ipname 1 -description 1 -display_name 1 -rtl 1 -output 1 -flow 1}

proc nnm::hls::config_export {args} {
    lassign [nnm::opts config_export $nnm::export_spec $args] o pos
    dict for {k v} $o {
        dict set nnm::hls export $k $v
    }
}

proc nnm::hls::csynth_design {args} {
    nnm::opts csynth_design {} $args
    foreach k {top part clock files} {
        nnm::hls_need csynth_design $k
    }
    dict set nnm::hls synthesized 1
}

proc nnm::hls::export_design {args} {
    lassign [nnm::opts export_design $nnm::export_spec $args] o pos
    nnm::hls_need export_design synthesized
    set e [expr {[dict exists $nnm::hls export] ? [dict get $nnm::hls export] : {}}]
    set e [dict merge $e $o]
    foreach k {-format -vendor -library -version -ipname} {
        if {![dict exists $e $k]} {
            nnm::fail "export_design: no $k (config_export or export_design must give the VLNV)"
        }
    }
    if {[dict get $e -format] ne "ip_catalog"} {
        nnm::fail "export_design: -format [dict get $e -format]; the block design needs ip_catalog"
    }
    set vlnv [join [list [dict get $e -vendor] [dict get $e -library] [dict get $e -ipname] [dict get $e -version]] :]
    if {![dict exists $nnm::hls_defs $vlnv]} {
        nnm::fail "export_design: exports $vlnv, which no IP description (nnaccel.json) declares"
    }
    set def [dict get $nnm::hls_defs $vlnv]
    if {[dict get $nnm::hls top] ne [dict get $def top]} {
        nnm::fail "export_design: set_top [dict get $nnm::hls top] but nnaccel.json has top [dict get $def top]"
    }
    if {[dict get $nnm::hls part] ne [dict get $def part]} {
        nnm::fail "export_design: set_part [dict get $nnm::hls part] but nnaccel.json has part [dict get $def part]"
    }
    set dir [file join [dict get $nnm::hls project] [dict get $nnm::hls solution] impl ip]
    file mkdir $dir
    set f [open [file join $dir component.xml] w]
    puts $f "<!-- tclmodel stand-in for $vlnv -->"
    close $f
    lappend nnm::exports [list [file normalize $dir] $vlnv]
    nnm::record export $vlnv $dir
}

proc nnm::hls::close_project {args} {
    nnm::opts close_project {} $args
}

# ---------------------------------------------------------------- running scripts

proc nnm::use {ns} {
    foreach cmd [info commands ::nnm::hls::*] {
        catch {rename ::[namespace tail $cmd] {}}
    }
    foreach cmd [info commands ::nnm::viv::*] {
        catch {rename ::[namespace tail $cmd] {}}
    }
    foreach cmd [info commands ::nnm::${ns}::*] {
        interp alias {} ::[namespace tail $cmd] {} $cmd
    }
}

# `exit` inside a script ends that script, not the model.
proc nnm::run {ns script} {
    nnm::use $ns
    set here [pwd]
    rename ::exit ::nnm::real_exit
    proc ::exit {{code 0}} {
        return -code error -errorcode [list NNMODEL_EXIT $code] "exit $code"
    }
    set rc [catch {uplevel #0 [list source $script]} msg opts]
    cd $here
    rename ::exit {}
    rename ::nnm::real_exit ::exit
    if {$rc == 1} {
        set ec [dict get $opts -errorcode]
        if {[lindex $ec 0] eq "NNMODEL_EXIT"} {
            if {[lindex $ec 1] != 0} {
                nnm::fail "$script exited with code [lindex $ec 1]"
            }
            return exit
        }
        return -options $opts $msg
    }
}

proc nnm::run_hls {script} {
    nnm::run hls $script
}

proc nnm::run_vivado {script} {
    nnm::run viv $script
}

proc nnm::dump {} {
    nnm::dump_project
    foreach e $nnm::log {
        puts "REC [list {*}$e]"
    }
    dict for {k v} $nnm::project {
        puts "REC [list project $k $v]"
    }
    puts "REC [list top $nnm::fileset_top]"
    puts "REC [list wrapper $nnm::wrapper]"
    puts "REC [list saved $nnm::saved]"
    foreach c [dict keys $nnm::cells] {
        puts "REC [list config $c [dict get $nnm::cells $c config]]"
    }
}

source [file join [file dirname [info script]] project.tcl]
