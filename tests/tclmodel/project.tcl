# Vivado project mode in the Tcl model: the project script Edalize's vivado tool writes
# (<name>.tcl: create_project, set_param/set_property, `source` of our tclSource files),
# the synthesis/implementation scripts (<name>_synth.tcl, <name>_run.tcl: get_runs,
# launch_runs, wait_on_run, current_run, list_property), and the hardware handoff
# (<name>_handoff.tcl: write_hw_platform, get_files -all, the .hwh copy).
#
# State, as in Vivado: nothing is added to a project before create_project/open_project;
# each `vivado -mode batch -source a.tcl b.tcl <name>.xpr` is a fresh session that reopens the
# project from its .xpr (the model writes stand-in .xpr/.bit/.hwh/.xsa files at the paths Vivado
# would use, so later steps and `file` commands see them); a run must be launched before it is
# waited on, and a complete run is not launched again without reset_runs; implementation needs a
# launched synthesis; synthesis needs a top whose source is in the project and a saved block
# design; the block design's .hwh exists once its output products are generated (by
# generate_target or by synthesis) and get_files lists it only with -all; write_hw_platform
# -include_bit needs a bitstream from impl_1.
# Options follow UG835 (Vivado Design Suite Tcl Command Reference). Paths come from the scripts.

namespace eval nnm {
    variable prj {}           ;# open project: name, dir, xpr (empty: none open)
    variable projects {}      ;# xpr -> {name dir}: projects created in this model
    variable params {}
    variable runs {}          ;# run -> {status progress step parent bin}
    variable gen_files {}     ;# generated files: get_files lists them with -all only
    variable opened ""        ;# run whose design open_run opened
    variable platforms {}     ;# written .xsa files: list of dicts
    variable fileset_props {} ;# sources_1 properties other than top
}

set nnm::known_params {board.repoPaths project.enableVHDL2008 general.maxThreads}
set nnm::impl_steps {opt_design power_opt_design place_design post_place_power_opt_design phys_opt_design
    route_design post_route_phys_opt_design write_bitstream}

proc nnm::need_project {cmd} {
    if {[llength $nnm::prj] == 0} {
        nnm::fail "$cmd: no open project (create_project or open_project first)"
    }
}

proc nnm::prj_get {key} {
    return [dict get $nnm::prj $key]
}

proc nnm::new_runs {} {
    set nnm::runs [dict create \
        synth_1 {status {Not started} progress 0% step {} parent {} bin false} \
        impl_1 {status {Not started} progress 0% step {} parent synth_1 bin false}]
    set nnm::gen_files {}
    set nnm::opened ""
}

# The bd scripts of test_tcl_model run without a project script: the test stands in for it.
proc nnm::implicit_project {} {
    set nnm::prj [dict create name project dir [file normalize [pwd]] xpr ""]
    nnm::new_runs
}

# One `vivado -mode batch -source <scripts> [<xpr>]`: a fresh session. Vivado opens the
# project given on the command line, then sources the scripts in order; `exit` ends the session.
proc nnm::vivado_session {xpr scripts} {
    set nnm::prj {}
    set nnm::bd ""
    set nnm::opened ""
    if {$xpr ne ""} {
        nnm::viv::open_project $xpr
    }
    foreach s $scripts {
        if {[nnm::run viv $s] eq "exit"} {
            break
        }
    }
}

# ---------------------------------------------------------------- projects

proc nnm::viv::create_project {args} {
    set spec {-part 1 -force 0 -in_memory 0 -ip 0 -rtl_kernel 0 -quiet 0 -verbose 0}
    lassign [nnm::opts create_project $spec $args] o pos
    if {[llength $nnm::prj]} {
        nnm::fail "create_project: project [nnm::prj_get name] is open already"
    }
    if {[llength $pos] > 2} {
        nnm::fail "create_project: expected \[<name>\] \[<dir>\], got: $pos"
    }
    set name [expr {[llength $pos] ? [lindex $pos 0] : "project_1"}]
    set dir [file normalize [expr {[llength $pos] > 1 ? [lindex $pos 1] : "."}]]
    set xpr [file join $dir $name.xpr]
    if {[file exists $xpr] && ![dict exists $o -force]} {
        nnm::fail "create_project: $xpr exists (use -force to overwrite)"
    }
    file mkdir $dir
    set f [open $xpr w]
    puts $f "<!-- tclmodel stand-in for Vivado project $name -->"
    close $f
    set nnm::prj [dict create name $name dir $dir xpr $xpr]
    dict set nnm::projects $xpr [list $name $dir]
    set nnm::project {}
    set nnm::files {}
    set nnm::fileset_top ""
    if {[dict exists $o -part]} {
        dict set nnm::project part [dict get $o -part]
    }
    nnm::new_runs
    nnm::record xpr $xpr
    return $name
}

proc nnm::viv::open_project {args} {
    lassign [nnm::opts open_project {-read_only 0 -part 1 -quiet 0 -verbose 0} $args] o pos
    if {[llength $pos] != 1} {
        nnm::fail "open_project: expected one .xpr file, got: $pos"
    }
    set xpr [file normalize [lindex $pos 0]]
    if {![file exists $xpr]} {
        nnm::fail "open_project: $xpr does not exist (the project step has not run)"
    }
    if {![dict exists $nnm::projects $xpr]} {
        nnm::fail "open_project: $xpr is not a project this flow created"
    }
    lassign [dict get $nnm::projects $xpr] name dir
    set nnm::prj [dict create name $name dir $dir xpr $xpr]
    return $name
}

proc nnm::viv::close_project {args} {
    nnm::opts close_project {-delay 0 -quiet 0 -verbose 0} $args
    nnm::need_project close_project
    set nnm::prj {}
    set nnm::bd ""
    set nnm::opened ""
}

proc nnm::viv::current_project {args} {
    lassign [nnm::opts current_project {-quiet 0 -verbose 0} $args] o pos
    nnm::need_project current_project
    if {[llength $pos] && [lindex $pos 0] ne [nnm::prj_get name]} {
        nnm::fail "current_project: no open project [lindex $pos 0]"
    }
    return [nnm::prj_get name]
}

proc nnm::viv::set_param {args} {
    lassign [nnm::opts set_param {-quiet 0 -verbose 0} $args] o pos
    if {[llength $pos] != 2} {
        nnm::fail "set_param: expected <name> <value>, got: $pos"
    }
    lassign $pos name value
    if {$name ni $nnm::known_params} {
        nnm::fail "set_param: unknown parameter $name (the model knows: $nnm::known_params)"
    }
    dict set nnm::params $name $value
}

# ---------------------------------------------------------------- filesets and files

proc nnm::viv::get_filesets {args} {
    lassign [nnm::opts get_filesets {-quiet 0 -verbose 0 -filter 1 -regexp 0 -of_objects 1} $args] o pos
    nnm::need_project get_filesets
    set out {}
    foreach pat $pos {
        set hit [lsearch -all -inline -glob {sources_1 constrs_1 sim_1 utils_1} $pat]
        if {$hit eq "" && ![dict exists $o -quiet]} {
            nnm::fail "get_filesets: no fileset matches $pat"
        }
        lappend out {*}$hit
    }
    return $out
}

proc nnm::viv::current_fileset {args} {
    lassign [nnm::opts current_fileset {-constrset 0 -simset 0 -quiet 0 -verbose 0} $args] o pos
    nnm::need_project current_fileset
    if {[dict exists $o -constrset]} {
        return constrs_1
    }
    return [expr {[dict exists $o -simset] ? "sim_1" : "sources_1"}]
}

proc nnm::add_existing {cmd paths} {
    nnm::need_project $cmd
    foreach f [concat {*}$paths] {
        if {![file exists $f]} {
            nnm::fail "$cmd: $f does not exist (cwd [pwd])"
        }
        lappend nnm::files [file normalize $f]
    }
}

proc nnm::viv::add_files {args} {
    set spec {-fileset 1 -norecurse 0 -scan_for_includes 0 -copy_to 1 -force 0 -quiet 0 -verbose 0}
    lassign [nnm::opts add_files $spec $args] o pos
    nnm::add_existing add_files $pos
}

proc nnm::viv::read_verilog {args} {
    lassign [nnm::opts read_verilog {-library 1 -sv 0 -quiet 0 -verbose 0} $args] o pos
    nnm::add_existing read_verilog $pos
}

proc nnm::viv::read_vhdl {args} {
    lassign [nnm::opts read_vhdl {-library 1 -vhdl2008 0 -vhdl2019 0 -quiet 0 -verbose 0} $args] o pos
    nnm::add_existing read_vhdl $pos
}

proc nnm::viv::read_xdc {args} {
    lassign [nnm::opts read_xdc {-ref 1 -cells 1 -no_add 0 -mode 1 -unmanaged 0 -quiet 0 -verbose 0} $args] o pos
    nnm::add_existing read_xdc $pos
}

proc nnm::viv::get_files {args} {
    set spec {-quiet 0 -verbose 0 -all 0 -of_objects 1 -compile_order 1 -used_in 1 -filter 1 -regexp 0
        -nocase 0 -references 0 -norecurse 0}
    lassign [nnm::opts get_files $spec $args] o pos
    nnm::need_project get_files
    set pool $nnm::files
    if {[dict exists $o -all]} {
        lappend pool {*}$nnm::gen_files
    }
    set out {}
    foreach f $pool {
        foreach pat $pos {
            if {[string match $pat $f] || [string match */$pat $f]} {
                lappend out $f
            }
        }
    }
    if {$out eq "" && ![dict exists $o -quiet]} {
        nnm::fail "get_files: no file matches $pos"
    }
    return $out
}

proc nnm::viv::update_compile_order {args} {
    nnm::opts update_compile_order {-fileset 1 -quiet 0 -verbose 0} $args
    nnm::need_project update_compile_order
}

# The block design's output products, as generate_target (or synthesis) writes them.
proc nnm::bd_name {} {
    foreach f $nnm::files {
        if {[string match *.bd $f]} {
            return [file rootname [file tail $f]]
        }
    }
    return ""
}

proc nnm::generate_bd_products {cmd} {
    set bd [nnm::bd_name]
    if {$bd eq ""} {
        return
    }
    if {!$nnm::saved} {
        nnm::fail "$cmd: block design $bd was never saved (save_bd_design)"
    }
    set hwh [file join [nnm::prj_get dir] [nnm::prj_get name].gen sources_1 bd $bd hw_handoff $bd.hwh]
    if {$hwh ni $nnm::gen_files} {
        file mkdir [file dirname $hwh]
        set f [open $hwh w]
        puts $f "<!-- tclmodel stand-in hardware handoff of $bd -->"
        close $f
        lappend nnm::gen_files $hwh
    }
}

proc nnm::viv::generate_target {args} {
    lassign [nnm::opts generate_target {-force 0 -quiet 0 -verbose 0} $args] o pos
    nnm::need_project generate_target
    lassign $pos what objs
    if {[llength $pos] != 2 || $what ni {all synthesis simulation implementation instantiation_template}} {
        nnm::fail "generate_target: expected <name> <objects> with a target name such as all, got: $pos"
    }
    foreach obj $objs {
        if {![string match *.bd $obj]} {
            nnm::fail "generate_target: the model generates block designs only, not $obj"
        }
    }
    nnm::generate_bd_products generate_target
}

proc nnm::viv::write_bd_tcl {args} {
    set spec {-force 0 -bd_name 1 -bd_folder 1 -hier_blks 1 -include_layout 0 -exclude_layout 0 -no_ip_version 0
        -ignore_minor_versions 0 -make_local 0 -no_project_wrapper 0 -quiet 0 -verbose 0}
    lassign [nnm::opts write_bd_tcl $spec $args] o pos
    nnm::need_bd write_bd_tcl
    if {[llength $pos] != 1} {
        nnm::fail "write_bd_tcl: expected one <file>, got: $pos"
    }
    set file [file normalize [lindex $pos 0]]
    if {[file exists $file] && ![dict exists $o -force]} {
        nnm::fail "write_bd_tcl: $file exists (use -force to overwrite)"
    }
    set f [open $file w]
    puts $f "# tclmodel stand-in for the Tcl of block design $nnm::bd"
    close $f
    nnm::record bd_tcl $file
    return $file
}

# ---------------------------------------------------------------- properties of projects, filesets, runs

set nnm::project_props {part board_part board_connections ip_repo_paths source_mgmt_mode target_language}
set nnm::fileset_settable {top include_dirs verilog_define generic}

# set_property on a project, fileset or run; returns 0 if obj is none of those.
proc nnm::set_project_object {obj name value} {
    if {[llength $nnm::prj] && $obj eq [nnm::prj_get name]} {
        set name [string tolower $name]
        if {$name ni $nnm::project_props} {
            nnm::fail "set_property: the model does not know project property $name"
        }
        if {$name eq "board_part" && $value ni $nnm::board_parts} {
            nnm::fail "set_property board_part: $value is not an installed board part"
        }
        if {$name eq "source_mgmt_mode" && $value ni {All DisplayOnly None}} {
            nnm::fail "set_property source_mgmt_mode: $value is not All, DisplayOnly or None"
        }
        dict set nnm::project $name $value
        return 1
    }
    if {$obj in {sources_1 constrs_1 sim_1}} {
        nnm::need_project set_property
        set name [string tolower $name]
        if {$obj ne "sources_1" || $name ni $nnm::fileset_settable} {
            nnm::fail "set_property: the model does not know property $name of fileset $obj"
        }
        if {$name eq "top"} {
            set nnm::fileset_top $value
        } else {
            dict set nnm::fileset_props $name $value
        }
        return 1
    }
    if {[dict exists $nnm::runs $obj]} {
        if {[string toupper $name] ne "STEPS.WRITE_BITSTREAM.ARGS.BIN_FILE" || $obj ne "impl_1"} {
            nnm::fail "set_property: the model does not know property $name of run $obj"
        }
        if {![string is boolean -strict $value]} {
            nnm::fail "set_property $name: $value is not a boolean"
        }
        dict set nnm::runs $obj bin $value
        return 1
    }
    if {$obj in {project}} {
        nnm::fail "set_property: no open project $obj"
    }
    return 0
}

proc nnm::run_dir {run} {
    return [file join [nnm::prj_get dir] [nnm::prj_get name].runs $run]
}

proc nnm::viv::get_property {args} {
    lassign [nnm::opts get_property {-quiet 0 -verbose 0 -min 0 -max 0} $args] o pos
    if {[llength $pos] != 2} {
        nnm::fail "get_property: expected <name> <object>, got: $pos"
    }
    lassign $pos name obj
    set lname [string tolower $name]
    if {[llength $nnm::prj] && $obj eq [nnm::prj_get name]} {
        if {$lname eq "directory"} {
            return [nnm::prj_get dir]
        }
        if {$lname eq "name"} {
            return [nnm::prj_get name]
        }
        if {$lname ni $nnm::project_props} {
            nnm::fail "get_property: the model does not know project property $name"
        }
        return [expr {[dict exists $nnm::project $lname] ? [dict get $nnm::project $lname] : ""}]
    }
    if {$obj eq "sources_1"} {
        if {$lname eq "top"} {
            return $nnm::fileset_top
        }
        if {$lname in $nnm::fileset_settable} {
            return [expr {[dict exists $nnm::fileset_props $lname] ? [dict get $nnm::fileset_props $lname] : ""}]
        }
        nnm::fail "get_property: the model does not know property $name of fileset sources_1"
    }
    if {[llength $nnm::prj] && [dict exists $nnm::runs $obj]} {
        set r [dict get $nnm::runs $obj]
        switch -- [string toupper $name] {
            PROGRESS {return [dict get $r progress]}
            STATUS {return [dict get $r status]}
            CURRENT_STEP {return [dict get $r step]}
            DIRECTORY {return [nnm::run_dir $obj]}
            NEEDS_REFRESH {return 0}
            PARENT {return [dict get $r parent]}
            STEPS.WRITE_BITSTREAM.ARGS.BIN_FILE {
                if {$obj eq "impl_1"} {
                    return [dict get $r bin]
                }
            }
        }
        nnm::fail "get_property: the model does not know property $name of run $obj"
    }
    nnm::fail "get_property: $obj is not an object the model knows (project, fileset, run)"
}

proc nnm::viv::list_property {args} {
    lassign [nnm::opts list_property {-class 1 -regexp 0 -quiet 0 -verbose 0} $args] o pos
    lassign $pos obj pat
    nnm::need_project list_property
    if {![dict exists $nnm::runs $obj]} {
        nnm::fail "list_property: the model lists properties of runs only, not $obj"
    }
    set props {CURRENT_STEP DIRECTORY NEEDS_REFRESH PARENT PROGRESS STATUS}
    if {$obj eq "impl_1"} {
        lappend props STEPS.WRITE_BITSTREAM.ARGS.BIN_FILE
    }
    if {$pat eq ""} {
        return $props
    }
    return [lsearch -all -inline -glob $props [string toupper $pat]]
}

# ---------------------------------------------------------------- runs

proc nnm::viv::get_runs {args} {
    lassign [nnm::opts get_runs {-filter 1 -regexp 0 -nocase 0 -of_objects 1 -quiet 0 -verbose 0} $args] o pos
    nnm::need_project get_runs
    set out {}
    foreach pat [expr {[llength $pos] ? [concat {*}$pos] : "*"}] {
        set hit [lsearch -all -inline -glob [dict keys $nnm::runs] $pat]
        if {$hit eq "" && ![dict exists $o -quiet]} {
            nnm::fail "get_runs: no run matches $pat"
        }
        lappend out {*}$hit
    }
    return $out
}

proc nnm::viv::current_run {args} {
    lassign [nnm::opts current_run {-synthesis 0 -implementation 0 -quiet 0 -verbose 0} $args] o pos
    nnm::need_project current_run
    return [expr {[dict exists $o -synthesis] ? "synth_1" : "impl_1"}]
}

proc nnm::need_run {cmd run} {
    if {![dict exists $nnm::runs $run]} {
        nnm::fail "$cmd: no run $run (runs: [dict keys $nnm::runs])"
    }
}

proc nnm::reset_one {run} {
    dict set nnm::runs $run status {Not started}
    dict set nnm::runs $run progress 0%
    dict set nnm::runs $run step {}
    dict for {child r} $nnm::runs {
        if {[dict get $r parent] eq $run} {
            nnm::reset_one $child
        }
    }
}

proc nnm::viv::reset_runs {args} {
    lassign [nnm::opts reset_runs {-prev_step 0 -from_step 1 -quiet 0 -verbose 0} $args] o pos
    nnm::need_project reset_runs
    foreach run [concat {*}$pos] {
        nnm::need_run reset_runs $run
        nnm::reset_one $run
    }
}

proc nnm::viv::reset_run {args} {
    nnm::viv::reset_runs {*}$args
}

# What synthesis needs from the project: a part, a top module whose source is in the
# project (the block design's wrapper), and the block design saved.
proc nnm::check_synthesizable {} {
    if {![dict exists $nnm::project part]} {
        nnm::fail "launch_runs synth_1: the project has no part"
    }
    if {$nnm::fileset_top eq ""} {
        nnm::fail "launch_runs synth_1: sources_1 has no top (set_property top ... \[current_fileset\])"
    }
    set found 0
    foreach f $nnm::files {
        if {[file rootname [file tail $f]] eq $nnm::fileset_top} {
            set found 1
        }
    }
    if {!$found} {
        nnm::fail "launch_runs synth_1: top $nnm::fileset_top is not defined by any source of the project"
    }
}

proc nnm::viv::launch_runs {args} {
    set spec {-jobs 1 -scripts_only 0 -lsf 1 -sge 1 -cluster_configuration 1 -dir 1 -to_step 1 -next_step 0
        -host 1 -remote_cmd 1 -email_to 1 -email_all 0 -pre_launch_script 1 -post_launch_script 1
        -custom_script 1 -force 0 -quiet 0 -verbose 0}
    lassign [nnm::opts launch_runs $spec $args] o pos
    nnm::need_project launch_runs
    if {[dict exists $o -to_step] && [dict exists $o -next_step]} {
        nnm::fail "launch_runs: -to_step and -next_step exclude each other"
    }
    if {[dict exists $o -jobs] && (![string is integer -strict [dict get $o -jobs]] || [dict get $o -jobs] < 1)} {
        nnm::fail "launch_runs: -jobs [dict get $o -jobs] is not a positive integer"
    }
    set runs [concat {*}$pos]
    if {[llength $runs] == 0} {
        nnm::fail "launch_runs: no run given"
    }
    foreach run $runs {
        nnm::need_run launch_runs $run
        set r [dict get $nnm::runs $run]
        if {[dict get $r progress] eq "100%"} {
            nnm::fail "launch_runs: run $run is complete already (reset_runs first)"
        }
        if {[dict get $r status] eq "Running"} {
            nnm::fail "launch_runs: run $run is running already"
        }
        set parent [dict get $r parent]
        if {$parent eq ""} {
            nnm::check_synthesizable
            set last synth_design
            set steps {synth_design}
        } else {
            if {[dict get $nnm::runs $parent status] eq "Not started"} {
                nnm::fail "launch_runs $run: its synthesis run $parent has not been launched"
            }
            set last route_design
            set steps $nnm::impl_steps
        }
        if {[dict exists $o -to_step] && [llength $runs] == 1} {
            set last [dict get $o -to_step]
            if {$last ni $steps} {
                nnm::fail "launch_runs: -to_step $last is not a step of $run ($steps)"
            }
        }
        dict set nnm::runs $run status Running
        dict set nnm::runs $run step $last
        nnm::record launch $run $last
    }
}

# A run finishes when a script waits on it: its products appear on disk.
proc nnm::finish_run {run} {
    set r [dict get $nnm::runs $run]
    set step [dict get $r step]
    if {[dict get $r parent] eq ""} {
        nnm::generate_bd_products "launch_runs $run"
    } else {
        set parent [dict get $r parent]
        if {[dict get $nnm::runs $parent progress] ne "100%"} {
            nnm::finish_run $parent
        }
        if {$step eq "write_bitstream"} {
            set dir [nnm::run_dir $run]
            file mkdir $dir
            set exts [expr {[string is true [dict get $r bin]] ? {bit bin} : {bit}}]
            foreach ext $exts {
                set f [open [file join $dir $nnm::fileset_top.$ext] w]
                puts $f "tclmodel stand-in bitstream of $nnm::fileset_top"
                close $f
            }
        }
    }
    dict set nnm::runs $run status "$step Complete!"
    dict set nnm::runs $run progress 100%
}

proc nnm::viv::wait_on_run {args} {
    lassign [nnm::opts wait_on_run {-timeout 1 -quiet 0 -verbose 0} $args] o pos
    nnm::need_project wait_on_run
    foreach run [concat {*}$pos] {
        nnm::need_run wait_on_run $run
        set status [dict get $nnm::runs $run status]
        if {$status eq "Not started"} {
            nnm::fail "wait_on_run: run $run was never launched"
        }
        if {$status eq "Running"} {
            nnm::finish_run $run
        }
    }
}

proc nnm::viv::wait_on_runs {args} {
    nnm::viv::wait_on_run {*}$args
}

proc nnm::viv::open_run {args} {
    lassign [nnm::opts open_run {-name 1 -pr_config 1 -quiet 0 -verbose 0} $args] o pos
    nnm::need_project open_run
    set run [lindex $pos 0]
    nnm::need_run open_run $run
    if {[dict get $nnm::runs $run progress] ne "100%"} {
        nnm::fail "open_run: run $run is not complete"
    }
    set nnm::opened $run
    return $run
}

# ---------------------------------------------------------------- hardware handoff

# UG835 documents the file as the positional [<file>]; AMD's platform tutorials give it as -file.
proc nnm::viv::write_hw_platform {args} {
    set spec {-fixed 0 -force 0 -include_bit 0 -include_sim_content 0 -minimal 0 -hw 0 -hw_emu 0
        -rp 1 -rm 1 -static 0 -file 1 -quiet 0 -verbose 0}
    lassign [nnm::opts write_hw_platform $spec $args] o pos
    nnm::need_project write_hw_platform
    set files $pos
    if {[dict exists $o -file]} {
        lappend files [dict get $o -file]
    }
    if {[llength $files] != 1} {
        nnm::fail "write_hw_platform: expected one .xsa file (-file or positional), got: $files"
    }
    set file [file normalize [lindex $files 0]]
    if {[file extension $file] ne ".xsa"} {
        nnm::fail "write_hw_platform: $file does not end in .xsa"
    }
    if {[dict exists $o -fixed] && ([dict exists $o -hw] || [dict exists $o -hw_emu])} {
        nnm::fail "write_hw_platform: -hw/-hw_emu are for extensible platforms, not -fixed"
    }
    if {[file exists $file] && ![dict exists $o -force]} {
        nnm::fail "write_hw_platform: $file exists (use -force to overwrite)"
    }
    set bit ""
    if {[dict exists $o -include_bit]} {
        set impl [dict get $nnm::runs impl_1]
        set bit [file join [nnm::run_dir impl_1] $nnm::fileset_top.bit]
        if {[dict get $impl progress] ne "100%" || [dict get $impl step] ne "write_bitstream" || ![file exists $bit]} {
            nnm::fail "write_hw_platform -include_bit: impl_1 has no bitstream (launch_runs impl_1 -to_step\
                write_bitstream; wait_on_run impl_1)"
        }
    }
    set hwh [lsearch -inline -glob $nnm::gen_files */hw_handoff/*.hwh]
    if {$hwh eq ""} {
        nnm::fail "write_hw_platform: the block design's output products are not generated (no .hwh)"
    }
    file mkdir [file dirname $file]
    set f [open $file w]
    puts $f "tclmodel stand-in hardware platform: [file tail $hwh] [file tail $bit]"
    close $f
    set p [dict create file $file fixed [dict exists $o -fixed] include_bit [dict exists $o -include_bit] \
        bit $bit hwh $hwh]
    lappend nnm::platforms $p
    nnm::record xsa $file [dict get $p fixed] [dict get $p include_bit] $bit $hwh
    return $file
}

proc nnm::dump_project {} {
    dict for {run r} $nnm::runs {
        puts "REC [list run $run [dict get $r status] [dict get $r progress]]"
    }
    foreach f $nnm::gen_files {
        puts "REC [list generated $f]"
    }
}
